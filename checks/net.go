package checks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/vrrpd/vrrpd/notify/child"
)

// TCP returns a Checker that is healthy if a TCP connection to addr (host:port) can be made. The
// connection is closed at once.
func TCP(addr string) Checker {
	return tcpChecker(addr)
}

type tcpChecker string

func (addr tcpChecker) Check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", string(addr))
	if err != nil {
		return err
	}
	return conn.Close()
}

// HTTP returns a Checker that sends GET to rawURL and is healthy on a 2xx answer.
//
// Redirects are not followed: a 3xx is unhealthy. A health endpoint that redirects is usually
// answering for something else (a login page, a maintenance host, http to https), and following it
// would report the health of whatever is at the other end. The check also ignores HTTP_PROXY and the
// like, since it probes the service itself, and opens a new connection for every probe, so that a
// connection kept alive cannot hide a listener that no longer accepts.
func HTTP(rawURL string) Checker {
	return &httpChecker{
		url: rawURL,
		client: &http.Client{
			Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}
}

type httpChecker struct {
	url    string
	client *http.Client
}

// StatusError is the error of an HTTP check answered with a status other than 2xx. What the
// server wrote, its reason phrase and Location, is kept as child.Printable leaves it.
type StatusError struct {
	URL      string
	Status   string // e.g. "503 Service Unavailable"
	Code     int
	Location string // a redirect's Location header, else ""
}

func (e *StatusError) Error() string {
	if e.Location != "" {
		return fmt.Sprintf("GET %s: %s (redirect to %s not followed)", e.URL, e.Status, e.Location)
	}
	return fmt.Sprintf("GET %s: %s", e.URL, e.Status)
}

func (c *httpChecker) Check(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fmt.Errorf("%w: GET %s: %w", ErrCannotStart, c.url, err)
	}
	req.Header.Set("User-Agent", "vrrpd-check")
	resp, err := c.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("GET %s: %w", c.url, err)
	}
	// Read some of the body so the server sees a clean close, but not all of an endless one.
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10)
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	return &StatusError{URL: c.url, Status: child.Printable(resp.Status), Code: resp.StatusCode, Location: child.Printable(resp.Header.Get("Location"))}
}
