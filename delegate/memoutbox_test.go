package delegate_test

import (
	"testing"

	"github.com/smartcharge/smartcharge/delegate"
	"github.com/smartcharge/smartcharge/site"
	"github.com/smartcharge/smartcharge/site/storetest"
)

func TestMemOutboxConformance(t *testing.T) {
	storetest.RunOutbox(t, func(*testing.T) site.OutboxStore { return delegate.NewMemOutbox() })
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		desc string
		cfg  delegate.Config
		ok   bool
	}{
		{"empty", delegate.Config{}, false},
		{"complete", delegate.Config{Store: nilStore{}, Outbox: delegate.NewMemOutbox(), Events: nilSink{}}, true},
		{"negative timeout", delegate.Config{Store: nilStore{}, Outbox: delegate.NewMemOutbox(), Events: nilSink{}, AnswerTimeout: -1}, false},
	}
	for _, tc := range tests {
		if err := tc.cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%s: Validate = %v, want ok=%v", tc.desc, err, tc.ok)
		}
	}
}

type nilSink struct{}

func (nilSink) Publish(site.Event) {}

type nilStore struct{ site.Store }
