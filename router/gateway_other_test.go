//go:build !linux

package router

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

func TestDiscoverGateway(t *testing.T) {
	ok := func() (net.IP, error) { return net.ParseIP("192.168.1.1"), nil }
	if a, err := discoverGateway(ok, time.Second); err != nil || a.String() != "192.168.1.1" {
		t.Errorf("ok: %v %v", a, err)
	}
	v6 := func() (net.IP, error) { return net.ParseIP("fe80::1"), nil }
	if _, err := discoverGateway(v6, time.Second); err == nil || !strings.Contains(err.Error(), "not an IPv4") {
		t.Errorf("v6: %v", err)
	}
	fail := func() (net.IP, error) { return nil, errors.New("no gateway") }
	if _, err := discoverGateway(fail, time.Second); err == nil || !strings.Contains(err.Error(), "no gateway") {
		t.Errorf("fail: %v", err)
	}
	hang := func() (net.IP, error) { select {} }
	if _, err := discoverGateway(hang, 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("hang: %v", err)
	}
}
