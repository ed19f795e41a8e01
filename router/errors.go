package router

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/netplan42/netplan42/planner"
)

// Sentinel errors callers branch on, with errors.Is.
var (
	// ErrConflict: another mapping holds the external port (UPnP 718,
	// NAT-PMP granting a different port is not a conflict).
	ErrConflict = errors.New("external port held by another mapping")
	// ErrManual: the router is in manual mode; nothing can be mapped.
	ErrManual = errors.New("no router protocol answered: forward the port by hand")
	// ErrRefused: the router answered and refused the request (UPnP 606,
	// 501 ActionFailed, NAT-PMP result 2).
	ErrRefused = errors.New("router refused the request")
	// ErrNoExternalAddress: the router has no public external address and
	// cannot forward ports (CGNAT or double NAT; NAT-PMP result 3).
	ErrNoExternalAddress = errors.New("router has no public external address")
	// ErrTimeout: the router did not answer within the timeout. It is
	// planner.ErrNoAnswer, which apply recognises without importing this
	// package.
	ErrTimeout = planner.ErrNoAnswer
)

// UPnP error codes from the IGD v2 WANIPConnection:2 spec, section 2.4.
const (
	codeInvalidAction          = 401
	codeInvalidArgs            = 402
	codeActionFailed           = 501
	codeActionNotAuthorized    = 606
	codeOptionalNotImplemented = 602
	codeArrayIndexInvalid      = 713
	codeNoSuchEntry            = 714
	codeConflict               = 718
	codeSamePortValuesRequired = 724
	codeOnlyPermanentLeases    = 725
	codeExternalPortOnlyWild   = 727
	codeOutOfResources         = 728
)

// UPnPError is an error the IGD returned in a SOAP fault.
type UPnPError struct {
	Code        int
	Description string
	// HTTPStatus is the status of the response that carried the fault.
	HTTPStatus int
}

func (e *UPnPError) Error() string {
	if e.Description == "" {
		return fmt.Sprintf("upnp error %d", e.Code)
	}
	return fmt.Sprintf("upnp error %d %s", e.Code, e.Description)
}

// Is makes errors.Is(err, ErrConflict) and ErrRefused work on UPnP errors.
func (e *UPnPError) Is(target error) bool {
	switch target {
	case ErrConflict:
		return e.Code == codeConflict
	case ErrRefused:
		return e.Code == codeActionNotAuthorized || e.Code == codeActionFailed || e.Code == codeOutOfResources
	}
	return false
}

// ConflictError says who holds the external port a mapping asked for.
type ConflictError struct {
	Want planner.Mapping
	// Holder is the mapping found on the router for Want's key; its
	// InternalAddress is invalid when the router would not say.
	Holder planner.Mapping
	// Found reports whether the holder could be read back.
	Found bool
	Err   error // the router's error, e.g. *UPnPError 718
}

func (e *ConflictError) Error() string {
	if !e.Found {
		return fmt.Sprintf("another computer holds external port %s (%v); see the router's port forwarding table", e.Want.Key(), e.Err)
	}
	desc := e.Holder.Description
	if desc == "" {
		desc = "no description"
	}
	return fmt.Sprintf("external port %s is held by %s:%d (%q) (%v); remove that mapping or choose another external port",
		e.Want.Key(), e.Holder.InternalAddress, e.Holder.InternalPort, desc, e.Err)
}

func (e *ConflictError) Unwrap() error { return e.Err }

// Is reports ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// NotOursError says the router's entry for a mapping asked to be deleted
// is not that mapping any more: another client, internal port or
// description holds its external port. Nothing was deleted.
// errors.Is(err, planner.ErrNotOurs) reports it.
type NotOursError struct {
	Want   planner.Mapping // what the caller asked to delete
	Holder planner.Mapping // the router's entry on Want's key
}

func (e *NotOursError) Error() string {
	holder := "an unreadable client"
	if e.Holder.InternalAddress.IsValid() {
		holder = netip.AddrPortFrom(e.Holder.InternalAddress, e.Holder.InternalPort).String()
	}
	return fmt.Sprintf("external port %s is now held by %s %q; not deleting it", e.Want.Key(), holder, e.Holder.Description)
}

// Is reports planner.ErrNotOurs.
func (e *NotOursError) Is(target error) bool { return target == planner.ErrNotOurs }

// NotGrantedError says the router accepted a mapping but, read back,
// holds something else on its key: another internal client or port, or
// nothing. The mapping does not forward to the computer that asked.
// errors.Is(err, ErrConflict) reports it when another client holds the
// key.
type NotGrantedError struct {
	Want  planner.Mapping
	Got   planner.Mapping // the router's entry on Want's key, when Found
	Found bool
}

func (e *NotGrantedError) Error() string {
	want := netip.AddrPortFrom(e.Want.InternalAddress, e.Want.InternalPort)
	if !e.Found {
		return fmt.Sprintf("the router answered OK but, read back, holds nothing on %s: it does not forward to %s", e.Want.Key(), want)
	}
	return fmt.Sprintf("the router answered OK but forwards %s to %s (%q), not to %s", e.Want.Key(),
		netip.AddrPortFrom(e.Got.InternalAddress, e.Got.InternalPort), e.Got.Description, want)
}

// Is reports ErrConflict when another client or port holds the key.
func (e *NotGrantedError) Is(target error) bool { return target == ErrConflict && e.Found }

// NATPMPError is a NAT-PMP response with a non-zero result code (RFC 6886
// section 3.5).
type NATPMPError struct {
	Code  uint16
	Epoch uint32
}

var natpmpCodes = map[uint16]string{
	1: "unsupported version",
	2: "not authorized/refused",
	3: "network failure (no external address)",
	4: "out of resources",
	5: "unsupported opcode",
}

func (e *NATPMPError) Error() string {
	if s, ok := natpmpCodes[e.Code]; ok {
		return fmt.Sprintf("nat-pmp result %d (%s)", e.Code, s)
	}
	return fmt.Sprintf("nat-pmp result %d", e.Code)
}

// Is maps result codes to the sentinels.
func (e *NATPMPError) Is(target error) bool {
	switch target {
	case ErrRefused:
		return e.Code == 2 || e.Code == 4
	case ErrNoExternalAddress:
		return e.Code == 3
	}
	return false
}

// opError is an operation, its value and the error: "upnp AddPortMapping
// 4242/tcp -> 192.0.2.10:4242: upnp error 718 ConflictInMappingEntry".
type opError struct {
	Op    string
	Value string
	Err   error
	Hint  string
}

func (e *opError) Error() string {
	s := e.Op
	if e.Value != "" {
		s += " " + e.Value
	}
	s += ": " + e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *opError) Unwrap() error { return e.Err }

func mappingValue(m planner.Mapping) string {
	return fmt.Sprintf("%s -> %s", m.Key(), netip.AddrPortFrom(m.InternalAddress, m.InternalPort))
}
