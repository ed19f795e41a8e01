// Package router talks to the home router that forwards ports: it finds
// the router at the default gateway (UPnP IGD by SSDP, or NAT-PMP), reads
// its port mapping table back, and adds and deletes mappings.
//
// Open discovers; Router.Observe returns a planner.RouterView without
// changing anything; Router.Add and Router.Delete change one mapping each,
// and Router.Lookup reads one back. A key whose lookup the router fails is
// in the view's Unknown, never left out as if absent; Add reads back what
// the router granted and fails when it does not forward to the asker.
// When neither protocol answers, Open returns a Router in manual mode whose
// view says what was tried and whose Add and Delete fail with ErrManual.
// Given the identity state remembers (Config.Remembered), Open starts from
// the remembered IGD while SSDP confirms it, and the Router's first use
// starts over from discovery when the router changed.
//
// Every network exchange is bounded by Config.Timeout and, for HTTP, by a
// body size cap; a listing also by its count caps and listBudget in all.
// Every exchange talks to the gateway only: an SSDP reply counts only
// when it comes from the gateway and names a description URL on it, a
// remembered description URL is used only when it is on the gateway, and
// the HTTP client refuses any other host, so a rogue LAN host is never
// contacted.
//
// Errors name the operation and the value and carry typed causes:
// *UPnPError (the router's error code), *ConflictError (who holds a port),
// *NotOursError (a UPnP delete refused because the port's entry is
// someone else's now; errors.Is planner.ErrNotOurs), *NotGrantedError (an
// OK that left the port to another client or none), *NATPMPError, and the
// sentinels ErrConflict, ErrRefused, ErrNoExternalAddress, ErrTimeout and
// ErrManual for errors.Is.
package router
