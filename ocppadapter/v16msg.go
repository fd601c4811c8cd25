package ocppadapter

import "time"

// OCPP 1.6 message payloads. Field names follow the specification; only
// the fields the adapter reads or writes are declared (the schema check
// has already rejected anything else).

type idTagInfo16 struct {
	Status string `json:"status"`
}

type bootReq16 struct {
	ChargePointVendor       string `json:"chargePointVendor"`
	ChargePointModel        string `json:"chargePointModel"`
	ChargePointSerialNumber string `json:"chargePointSerialNumber,omitempty"`
	ChargeBoxSerialNumber   string `json:"chargeBoxSerialNumber,omitempty"`
	FirmwareVersion         string `json:"firmwareVersion,omitempty"`
}

type bootConf16 struct {
	Status      string    `json:"status"`
	CurrentTime time.Time `json:"currentTime"`
	Interval    int       `json:"interval"`
}

type heartbeatConf struct {
	CurrentTime time.Time `json:"currentTime"`
}

type statusReq16 struct {
	ConnectorID int        `json:"connectorId"`
	ErrorCode   string     `json:"errorCode"`
	Status      string     `json:"status"`
	Timestamp   *time.Time `json:"timestamp,omitempty"`
	Info        string     `json:"info,omitempty"`
}

type authorizeReq16 struct {
	IDTag string `json:"idTag"`
}

type authorizeConf16 struct {
	IDTagInfo idTagInfo16 `json:"idTagInfo"`
}

type startTxReq16 struct {
	ConnectorID int       `json:"connectorId"`
	IDTag       string    `json:"idTag"`
	MeterStart  int64     `json:"meterStart"`
	Timestamp   time.Time `json:"timestamp"`
}

type startTxConf16 struct {
	IDTagInfo     idTagInfo16 `json:"idTagInfo"`
	TransactionID int64       `json:"transactionId"`
}

type stopTxReq16 struct {
	IDTag           string         `json:"idTag,omitempty"`
	MeterStop       int64          `json:"meterStop"`
	Timestamp       time.Time      `json:"timestamp"`
	TransactionID   int64          `json:"transactionId"`
	Reason          string         `json:"reason,omitempty"`
	TransactionData []meterValue16 `json:"transactionData,omitempty"`
}

type stopTxConf16 struct {
	IDTagInfo *idTagInfo16 `json:"idTagInfo,omitempty"`
}

type meterValuesReq16 struct {
	ConnectorID   int            `json:"connectorId"`
	TransactionID *int64         `json:"transactionId,omitempty"`
	MeterValue    []meterValue16 `json:"meterValue"`
}

type meterValue16 struct {
	Timestamp    time.Time        `json:"timestamp"`
	SampledValue []sampledValue16 `json:"sampledValue"`
}

type sampledValue16 struct {
	Value     string `json:"value"`
	Context   string `json:"context,omitempty"`
	Format    string `json:"format,omitempty"`
	Measurand string `json:"measurand,omitempty"`
	Phase     string `json:"phase,omitempty"`
	Location  string `json:"location,omitempty"`
	Unit      string `json:"unit,omitempty"`
}

type dataTransferConf struct {
	Status string `json:"status"`
}

type emptyConf struct{}

// Messages to the charger.

type setProfileReq16 struct {
	ConnectorID int               `json:"connectorId"`
	Profile     chargingProfile16 `json:"csChargingProfiles"`
}

type chargingProfile16 struct {
	ChargingProfileID int        `json:"chargingProfileId"`
	TransactionID     *int64     `json:"transactionId,omitempty"`
	StackLevel        int        `json:"stackLevel"`
	Purpose           string     `json:"chargingProfilePurpose"`
	Kind              string     `json:"chargingProfileKind"`
	ValidTo           *time.Time `json:"validTo,omitempty"`
	Schedule          schedule16 `json:"chargingSchedule"`
}

type schedule16 struct {
	Duration      *int       `json:"duration,omitempty"`
	StartSchedule *time.Time `json:"startSchedule,omitempty"`
	RateUnit      string     `json:"chargingRateUnit"`
	Periods       []period16 `json:"chargingSchedulePeriod"`
}

type period16 struct {
	StartPeriod  int     `json:"startPeriod"`
	Limit        float64 `json:"limit"`
	NumberPhases *int    `json:"numberPhases,omitempty"`
}

type statusConf16 struct {
	Status string `json:"status"`
}

type clearProfileReq16 struct {
	ID          *int   `json:"id,omitempty"`
	ConnectorID *int   `json:"connectorId,omitempty"`
	Purpose     string `json:"chargingProfilePurpose,omitempty"`
	StackLevel  *int   `json:"stackLevel,omitempty"`
}

type compositeReq16 struct {
	ConnectorID int    `json:"connectorId"`
	Duration    int    `json:"duration"`
	RateUnit    string `json:"chargingRateUnit,omitempty"`
}

type compositeConf16 struct {
	Status        string      `json:"status"`
	ConnectorID   *int        `json:"connectorId,omitempty"`
	ScheduleStart *time.Time  `json:"scheduleStart,omitempty"`
	Schedule      *schedule16 `json:"chargingSchedule,omitempty"`
}

type triggerReq16 struct {
	RequestedMessage string `json:"requestedMessage"`
	ConnectorID      *int   `json:"connectorId,omitempty"`
}

type getConfigReq16 struct {
	Key []string `json:"key,omitempty"`
}

type configKey16 struct {
	Key      string  `json:"key"`
	Readonly bool    `json:"readonly"`
	Value    *string `json:"value,omitempty"`
}

type getConfigConf16 struct {
	ConfigurationKey []configKey16 `json:"configurationKey,omitempty"`
	UnknownKey       []string      `json:"unknownKey,omitempty"`
}

type changeConfigReq16 struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}
