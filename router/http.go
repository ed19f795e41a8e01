package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// maxSOAPBody bounds one SOAP response. A GetListOfPortMappings page of
// 1000 entries from miniupnpd is about 420 kB.
const maxSOAPBody = 4 << 20

// errBodyTooLarge is returned by a capped body past its limit.
var errBodyTooLarge = errors.New("response body too large")

// pinnedTransport is an http.RoundTripper that only talks to the gateway,
// on the port of the description URL or any other, never following a
// redirect elsewhere, and caps every response body. goupnp's generated SOAP
// clients use it through their SOAPClient.HTTPClient, so no goupnp call can
// reach another host or read an unbounded body.
type pinnedTransport struct {
	gw   netip.Addr
	base http.RoundTripper
	max  int64
}

func newPinnedClient(gw netip.Addr, timeout time.Duration, max int64) *http.Client {
	// Each call's context carries the timeout; the client's own limits are
	// a backstop a little later, so a slow router shows as ErrTimeout.
	timeout += timeout/4 + 50*time.Millisecond
	d := &net.Dialer{Timeout: timeout}
	tr := &http.Transport{
		Proxy:                  nil, // never a proxy: the gateway is on the LAN
		DialContext:            d.DialContext,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: 64 << 10,
		DisableCompression:     true,
	}
	return &http.Client{
		Transport: &pinnedTransport{gw: gw, base: tr, max: max},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("redirect refused: the IGD must answer itself")
		},
	}
}

func (t *pinnedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	host, err := netip.ParseAddr(req.URL.Hostname())
	if err != nil || host.Unmap() != t.gw || req.URL.Scheme != "http" {
		return nil, fmt.Errorf("refusing %s %s: not the gateway %s", req.Method, req.URL, t.gw)
	}
	if p := req.URL.Port(); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return nil, fmt.Errorf("refusing %s: bad port", req.URL)
		}
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > t.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %w (%d bytes, limit %d)", req.Method, req.URL, errBodyTooLarge, resp.ContentLength, t.max)
	}
	resp.Body = &cappedBody{r: io.LimitReader(resp.Body, t.max+1), c: resp.Body, left: t.max}
	return resp, nil
}

// cappedBody fails with errBodyTooLarge rather than returning a truncated
// body that might parse.
type cappedBody struct {
	r    io.Reader
	c    io.Closer
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, errBodyTooLarge
	}
	return n, err
}

func (b *cappedBody) Close() error { return b.c.Close() }

// get fetches url with the pinned client and returns its body.
func get(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return b, nil
}
