package router

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/planner"
)

// natpmpPacket crafts a NAT-PMP mapping response: opcode op+128, result
// code, epoch 7, and the internal port, external port and lifetime.
func natpmpPacket(op byte, result, internal, external uint16, lifetime uint32) []byte {
	b := make([]byte, 16)
	b[1] = op + 128
	binary.BigEndian.PutUint16(b[2:], result)
	binary.BigEndian.PutUint32(b[4:], 7)
	binary.BigEndian.PutUint16(b[8:], internal)
	binary.BigEndian.PutUint16(b[10:], external)
	binary.BigEndian.PutUint32(b[12:], lifetime)
	return b
}

func TestNATPMPReply(t *testing.T) {
	mapTCP, _ := natpmpMapRequest(planner.TCP, 4242, 4242, 600)
	delTCP, _ := natpmpMapRequest(planner.TCP, 4242, 0, 0)
	external := natpmpExternalRequest()
	for _, tc := range []struct {
		name    string
		req     []byte
		packet  []byte
		answers bool
		bad     bool // not a NAT-PMP response at all
	}{
		{"map: its answer", mapTCP, natpmpPacket(opMapTCP, 0, 4242, 4242, 600), true, false},
		{"map: the capture", mapTCP, capture(t, "natpmp-map-tcp-4242.bin"), true, false},
		{"map: another internal port", mapTCP, natpmpPacket(opMapTCP, 0, 4243, 4242, 600), false, false},
		{"map: internal port 0", mapTCP, natpmpPacket(opMapTCP, 0, 0, 4242, 600), false, false},
		{"map: the UDP answer", mapTCP, natpmpPacket(opMapUDP, 0, 4242, 4242, 600), false, false},
		{"map: an external address answer", mapTCP, capture(t, "natpmp-external.bin"), false, false},
		{"map: refused, same internal port", mapTCP, natpmpPacket(opMapTCP, 2, 4242, 4242, 600), true, false},
		{"map: refused, another internal port", mapTCP, natpmpPacket(opMapTCP, 2, 4243, 0, 0), false, false},
		{"map: refused, internal port zeroed", mapTCP, natpmpPacket(opMapTCP, 3, 0, 0, 0), true, false},
		{"map: refused, header only", mapTCP, natpmpPacket(opMapTCP, 2, 0, 0, 0)[:8], true, false},
		{"map: a PCP answer", mapTCP, append([]byte{2}, natpmpPacket(opMapTCP, 0, 4242, 4242, 600)[1:]...), false, true},
		{"map: its own request echoed", mapTCP, mapTCP, false, true},
		{"delete: its answer", delTCP, capture(t, "natpmp-delete-tcp-4242.bin"), true, false},
		{"delete: another internal port", delTCP, natpmpPacket(opMapTCP, 0, 4243, 0, 0), false, false},
		{"external: its answer", external, capture(t, "natpmp-external.bin"), true, false},
		{"external: result 3", external, capture(t, "natpmp-external-cgnat-result3.bin"), true, false},
		{"external: a mapping answer", external, natpmpPacket(opMapTCP, 0, 4242, 4242, 600), false, false},
	} {
		_, ok, err := natpmpReply(tc.req, tc.packet)
		if ok != tc.answers || (err != nil) != tc.bad {
			t.Errorf("%s: answers %v err %v; want answers %v bad %v", tc.name, ok, err, tc.answers, tc.bad)
		}
	}
}

// natpmpServer answers each request on a loopback UDP port with the
// packets reply returns for it, in order.
func natpmpServer(t *testing.T, reply func(req []byte) [][]byte) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			for _, p := range reply(buf[:n]) {
				c.WriteToUDPAddrPort(p, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// A response for another internal port, arriving first, is skipped; the
// exchange takes the one that answers its request.
func TestNATPMPExchangeSkipsMismatch(t *testing.T) {
	srv := natpmpServer(t, func(req []byte) [][]byte {
		in := binary.BigEndian.Uint16(req[4:])
		return [][]byte{
			natpmpPacket(opMapTCP, 0, in+1, 6666, 600), // another mapping's
			natpmpPacket(opMapUDP, 0, in, 7777, 600),   // another protocol's
			natpmpPacket(opMapTCP, 0, in, 5555, 600),
		}
	})
	req, _ := natpmpMapRequest(planner.TCP, 4242, 4242, 600)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := natpmpExchange(ctx, srv, req)
	if err != nil || r.InternalPort != 4242 || r.ExternalPort != 5555 {
		t.Fatalf("got %+v %v", r, err)
	}
}

// Only mismatched responses: the exchange keeps waiting and ends at the
// deadline, saying it ignored them, rather than take one.
func TestNATPMPExchangeOnlyMismatch(t *testing.T) {
	srv := natpmpServer(t, func(req []byte) [][]byte {
		in := binary.BigEndian.Uint16(req[4:])
		return [][]byte{natpmpPacket(opMapTCP, 0, in+1, 6666, 600)}
	})
	req, _ := natpmpMapRequest(planner.TCP, 4242, 4242, 600)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r, err := natpmpExchange(ctx, srv, req)
	t.Logf("after %v: %v", time.Since(start).Round(time.Millisecond), err)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "ignored ") {
		t.Fatalf("got %+v %v", r, err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
		t.Errorf("ended after %v, want at the 300 ms deadline", d)
	}
}

// lateCtx has a deadline but, like a context whose timer has not fired yet
// on a busy machine, is not done at it.
type lateCtx struct {
	context.Context
	deadline time.Time
}

func (c lateCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// The exchange ends at its deadline with ErrTimeout even when the
// context's timer lags: before, the next send failed with "write: i/o
// timeout" (seen under a CPU hog), or the exchange kept sending.
func TestNATPMPExchangeDeadlineBeforeDone(t *testing.T) {
	srv := natpmpServer(t, func(req []byte) [][]byte {
		in := binary.BigEndian.Uint16(req[4:])
		return [][]byte{natpmpPacket(opMapTCP, 0, in+1, 6666, 600)}
	})
	req, _ := natpmpMapRequest(planner.TCP, 4242, 4242, 600)
	ctx := lateCtx{context.Background(), time.Now().Add(300 * time.Millisecond)}
	done := make(chan error, 1)
	go func() {
		_, err := natpmpExchange(ctx, srv, req)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "ignored ") {
			t.Fatalf("got %v, want ErrTimeout after ignored responses", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the exchange went on 10 s past its deadline")
	}
}

// A context without a deadline still ends the exchange, after
// DefaultTimeout, when nothing answers.
func TestNATPMPExchangeNoDeadline(t *testing.T) {
	srv := natpmpServer(t, func([]byte) [][]byte { return nil })
	start := time.Now()
	_, err := natpmpExchange(context.Background(), srv, natpmpExternalRequest())
	d := time.Since(start)
	if !errors.Is(err, ErrTimeout) || d < DefaultTimeout || d > DefaultTimeout+time.Second {
		t.Fatalf("after %v: %v", d, err)
	}
}

// An exchange interrupted (Ctrl-C) ends with the context's error, not
// ErrTimeout: the router was not given its time, and apply must not take
// it for a router gone silent.
func TestNATPMPExchangeCancelled(t *testing.T) {
	srv := natpmpServer(t, func([]byte) [][]byte { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := natpmpExchange(ctx, srv, natpmpExternalRequest())
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}
