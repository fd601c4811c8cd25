package ocppadapter

import "time"

// OCPP 2.0.1 message payloads; only the fields the adapter reads or writes.

type statusInfo201 struct {
	ReasonCode     string `json:"reasonCode"`
	AdditionalInfo string `json:"additionalInfo,omitempty"`
}

type idToken201 struct {
	IDToken string `json:"idToken"`
	Type    string `json:"type"`
}

type idTokenInfo201 struct {
	Status string `json:"status"`
}

type bootReq201 struct {
	ChargingStation struct {
		SerialNumber    string `json:"serialNumber,omitempty"`
		Model           string `json:"model"`
		VendorName      string `json:"vendorName"`
		FirmwareVersion string `json:"firmwareVersion,omitempty"`
	} `json:"chargingStation"`
	Reason string `json:"reason"`
}

type bootConf201 struct {
	CurrentTime time.Time `json:"currentTime"`
	Interval    int       `json:"interval"`
	Status      string    `json:"status"`
}

type statusReq201 struct {
	Timestamp       time.Time `json:"timestamp"`
	ConnectorStatus string    `json:"connectorStatus"`
	EvseID          int       `json:"evseId"`
	ConnectorID     int       `json:"connectorId"`
}

type evse201 struct {
	ID          int  `json:"id"`
	ConnectorID *int `json:"connectorId,omitempty"`
}

type txEventReq201 struct {
	EventType     string    `json:"eventType"`
	Timestamp     time.Time `json:"timestamp"`
	TriggerReason string    `json:"triggerReason"`
	SeqNo         int       `json:"seqNo"`
	Offline       bool      `json:"offline,omitempty"`
	Info          struct {
		TransactionID string `json:"transactionId"`
		ChargingState string `json:"chargingState,omitempty"`
		StoppedReason string `json:"stoppedReason,omitempty"`
	} `json:"transactionInfo"`
	Evse       *evse201        `json:"evse,omitempty"`
	IDToken    *idToken201     `json:"idToken,omitempty"`
	MeterValue []meterValue201 `json:"meterValue,omitempty"`
}

type txEventConf201 struct {
	IDTokenInfo *idTokenInfo201 `json:"idTokenInfo,omitempty"`
}

type meterValue201 struct {
	Timestamp    time.Time         `json:"timestamp"`
	SampledValue []sampledValue201 `json:"sampledValue"`
}

type sampledValue201 struct {
	Value         float64           `json:"value"`
	Context       string            `json:"context,omitempty"`
	Measurand     string            `json:"measurand,omitempty"`
	Phase         string            `json:"phase,omitempty"`
	Location      string            `json:"location,omitempty"`
	UnitOfMeasure *unitOfMeasure201 `json:"unitOfMeasure,omitempty"`
}

type unitOfMeasure201 struct {
	Unit       string `json:"unit,omitempty"`
	Multiplier int    `json:"multiplier,omitempty"`
}

type meterValuesReq201 struct {
	EvseID     int             `json:"evseId"`
	MeterValue []meterValue201 `json:"meterValue"`
}

type authorizeReq201 struct {
	IDToken idToken201 `json:"idToken"`
}

type authorizeConf201 struct {
	IDTokenInfo idTokenInfo201 `json:"idTokenInfo"`
}

type evNeedsReq201 struct {
	EvseID        int `json:"evseId"`
	ChargingNeeds struct {
		DepartureTime *time.Time `json:"departureTime,omitempty"`
		AC            *struct {
			EnergyAmount int `json:"energyAmount"`
			EVMinCurrent int `json:"evMinCurrent"`
			EVMaxCurrent int `json:"evMaxCurrent"`
		} `json:"acChargingParameters,omitempty"`
		DC *struct {
			EVMaxCurrent int  `json:"evMaxCurrent"`
			EnergyAmount *int `json:"energyAmount,omitempty"`
		} `json:"dcChargingParameters,omitempty"`
	} `json:"chargingNeeds"`
}

type evNeedsConf201 struct {
	Status string `json:"status"`
}

type chargingLimitReq201 struct {
	EvseID        *int `json:"evseId,omitempty"`
	ChargingLimit struct {
		Source       string `json:"chargingLimitSource"`
		GridCritical *bool  `json:"isGridCritical,omitempty"`
	} `json:"chargingLimit"`
	ChargingSchedule []schedule201 `json:"chargingSchedule,omitempty"`
}

type clearedLimitReq201 struct {
	Source string `json:"chargingLimitSource"`
	EvseID *int   `json:"evseId,omitempty"`
}

type dataTransferReq201 struct {
	VendorID string `json:"vendorId"`
}

// Messages to the charger.

type setProfileReq201 struct {
	EvseID  int                `json:"evseId"`
	Profile chargingProfile201 `json:"chargingProfile"`
}

type chargingProfile201 struct {
	ID            int           `json:"id"`
	StackLevel    int           `json:"stackLevel"`
	Purpose       string        `json:"chargingProfilePurpose"`
	Kind          string        `json:"chargingProfileKind"`
	ValidTo       *time.Time    `json:"validTo,omitempty"`
	TransactionID string        `json:"transactionId,omitempty"`
	Schedules     []schedule201 `json:"chargingSchedule"`
}

type schedule201 struct {
	ID            int         `json:"id"`
	StartSchedule *time.Time  `json:"startSchedule,omitempty"`
	Duration      *int        `json:"duration,omitempty"`
	RateUnit      string      `json:"chargingRateUnit"`
	Periods       []period201 `json:"chargingSchedulePeriod"`
}

type period201 struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
}

type statusConf201 struct {
	Status     string         `json:"status"`
	StatusInfo *statusInfo201 `json:"statusInfo,omitempty"`
}

type clearProfileReq201 struct {
	ChargingProfileID *int                 `json:"chargingProfileId,omitempty"`
	Criteria          *clearProfileCrit201 `json:"chargingProfileCriteria,omitempty"`
}

type clearProfileCrit201 struct {
	EvseID     *int   `json:"evseId,omitempty"`
	Purpose    string `json:"chargingProfilePurpose,omitempty"`
	StackLevel *int   `json:"stackLevel,omitempty"`
}

type compositeReq201 struct {
	Duration int    `json:"duration"`
	RateUnit string `json:"chargingRateUnit,omitempty"`
	EvseID   int    `json:"evseId"`
}

type compositeConf201 struct {
	Status     string         `json:"status"`
	StatusInfo *statusInfo201 `json:"statusInfo,omitempty"`
	Schedule   *struct {
		EvseID        int         `json:"evseId"`
		Duration      int         `json:"duration"`
		ScheduleStart time.Time   `json:"scheduleStart"`
		RateUnit      string      `json:"chargingRateUnit"`
		Periods       []period201 `json:"chargingSchedulePeriod"`
	} `json:"schedule,omitempty"`
}

type triggerReq201 struct {
	RequestedMessage string   `json:"requestedMessage"`
	Evse             *evse201 `json:"evse,omitempty"`
}

type component201 struct {
	Name     string   `json:"name"`
	Instance string   `json:"instance,omitempty"`
	Evse     *evse201 `json:"evse,omitempty"`
}

type variable201 struct {
	Name     string `json:"name"`
	Instance string `json:"instance,omitempty"`
}

type getVariableData201 struct {
	AttributeType string       `json:"attributeType,omitempty"`
	Component     component201 `json:"component"`
	Variable      variable201  `json:"variable"`
}

type getVariablesReq201 struct {
	Data []getVariableData201 `json:"getVariableData"`
}

type getVariablesConf201 struct {
	Results []struct {
		AttributeStatus string       `json:"attributeStatus"`
		AttributeType   string       `json:"attributeType,omitempty"`
		AttributeValue  string       `json:"attributeValue,omitempty"`
		Component       component201 `json:"component"`
		Variable        variable201  `json:"variable"`
	} `json:"getVariableResult"`
}

type setVariableData201 struct {
	AttributeValue string       `json:"attributeValue"`
	Component      component201 `json:"component"`
	Variable       variable201  `json:"variable"`
}

type setVariablesReq201 struct {
	Data []setVariableData201 `json:"setVariableData"`
}

type setVariablesConf201 struct {
	Results []struct {
		AttributeStatus string       `json:"attributeStatus"`
		Component       component201 `json:"component"`
		Variable        variable201  `json:"variable"`
	} `json:"setVariableResult"`
}

type getBaseReportReq201 struct {
	RequestID  int    `json:"requestId"`
	ReportBase string `json:"reportBase"`
}

type getProfilesReq201 struct {
	RequestID int  `json:"requestId"`
	EvseID    *int `json:"evseId,omitempty"`
	Criteria  struct {
		Purpose string `json:"chargingProfilePurpose,omitempty"`
	} `json:"chargingProfile"`
}
