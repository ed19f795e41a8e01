package schema

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// BackendKind names a shared store for port claims, state and reports.
type BackendKind string

// Backend kinds.
const (
	// BackendEtcd is an etcd v3 cluster.
	BackendEtcd BackendKind = "etcd"
)

var backendKinds = []string{string(BackendEtcd)}

// Backend defaults and limits.
const (
	DefaultBackendPrefix = "/netplan42"
	DefaultReportTTL     = 3 * time.Minute
	// MinReportTTL is the shortest report_ttl: etcd grants no lease much
	// shorter, and an agent renews its report well within the TTL.
	MinReportTTL = 10 * time.Second
	MaxReportTTL = 24 * time.Hour
)

// Environment variables that carry the backend's credentials, so that
// none is written in the configuration.
const (
	EnvEtcdUsername = "NETPLAN42_ETCD_USERNAME"
	EnvEtcdPassword = "NETPLAN42_ETCD_PASSWORD"
)

// Backend is the configuration's backend block: where a fleet keeps its
// port claims, states and reports instead of the lock file and local
// state files. Without one, Config.Backend is nil.
type Backend struct {
	Kind BackendKind
	// Endpoints are the members' client URLs, http:// or https://.
	Endpoints []string
	// Prefix is where netplan42's keys live: PREFIX/computers/...,
	// PREFIX/networks/...; it starts with "/" and does not end with one.
	Prefix string
	// TLS is nil when the tls block is absent.
	TLS *BackendTLS
	// ReportTTL is how long a report lives without renewal.
	ReportTTL time.Duration

	DeclRange hcl.Range
}

// BackendTLS is the backend block's tls block; file names are as written.
type BackendTLS struct {
	CAFile   string // the CA that signed the members' certificates; empty: the system's
	CertFile string // client certificate; empty with KeyFile for none
	KeyFile  string
}

var (
	backendSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "endpoints"},
			{Name: "prefix"},
			{Name: "report_ttl"},
		},
		Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}},
	}
	backendTLSSchema = &hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{
			{Name: "ca_file"},
			{Name: "cert_file"},
			{Name: "key_file"},
		},
	}
)

// backends decodes the configuration's backend blocks: at most one.
func (l *loader) backends(blocks []*hcl.Block, ctx *hcl.EvalContext) {
	for i, b := range blocks {
		if i > 0 {
			l.add(errorAt(b.DefRange, "Duplicate backend block",
				"A backend was already declared at %s; a fleet keeps its claims and states in one place. Remove one of them.",
				position(blocks[0].DefRange)))
			// Its mistakes are reported too, so that one edit fixes all.
			l.backend(b, ctx)
			continue
		}
		l.cfg.Backend = l.backend(b, ctx)
	}
}

// backend decodes one backend block; nil when a mistake was reported.
func (l *loader) backend(b *hcl.Block, ctx *hcl.EvalContext) *Backend {
	kind := b.Labels[0]
	if kind != string(BackendEtcd) {
		l.add(errorAt(b.LabelRanges[0], "Unsupported backend",
			"%q is not a backend netplan42 knows: use %s.%s", kind, quotedList(backendKinds), didYouMean(kind, backendKinds)))
		return nil
	}
	be := &Backend{Kind: BackendEtcd, Prefix: DefaultBackendPrefix, ReportTTL: DefaultReportTTL, DeclRange: b.DefRange}
	content, diags := b.Body.Content(backendSchema)
	l.add(diags...)
	ok := !diags.HasErrors()

	if a := content.Attributes["endpoints"]; a == nil {
		l.add(errorAt(b.DefRange, "Missing endpoints",
			"The etcd backend needs endpoints: the client URLs of one or more members, like endpoints = [\"http://127.0.0.1:2379\"]."))
		ok = false
	} else if v, good := l.value(a, ctx, cty.List(cty.String), true); !good {
		ok = false
	} else if v.LengthInt() == 0 {
		l.add(errorAt(a.Expr.Range(), "No endpoints",
			"endpoints is empty. List the client URL of at least one etcd member, like \"http://127.0.0.1:2379\"."))
		ok = false
	} else {
		seen := map[string]bool{}
		// Point at the element when the list is written out.
		rangeOf := func(i int) hcl.Range {
			if t, ok := a.Expr.(*hclsyntax.TupleConsExpr); ok && i < len(t.Exprs) {
				return t.Exprs[i].Range()
			}
			return a.Expr.Range()
		}
		for i, ev := range v.AsValueSlice() {
			if ev.IsNull() {
				l.add(errorAt(rangeOf(i), "Invalid endpoint", "endpoints holds a null; list URLs only."))
				ok = false
				continue
			}
			e := ev.AsString()
			if why := endpointProblem(e); why != "" {
				l.add(errorAt(rangeOf(i), "Invalid endpoint",
					"%q is not an etcd client URL: %s. Write it like \"http://127.0.0.1:2379\" or \"https://etcd1.example.net:2379\".", e, why))
				ok = false
				continue
			}
			if seen[e] {
				l.add(errorAt(rangeOf(i), "Duplicate endpoint", "%q is listed twice in endpoints; list each member once.", e))
				ok = false
				continue
			}
			seen[e] = true
			be.Endpoints = append(be.Endpoints, e)
		}
	}

	if a := content.Attributes["prefix"]; a != nil {
		if v, good := l.value(a, ctx, cty.String, false); good {
			p := v.AsString()
			if why := prefixProblem(p); why != "" {
				l.add(errorAt(a.Expr.Range(), "Invalid prefix",
					"prefix = %q %s. Write a key path like %q or \"/netplan42/office\".", p, why, DefaultBackendPrefix))
				ok = false
			} else {
				be.Prefix = p
			}
		}
	}

	if a := content.Attributes["report_ttl"]; a != nil {
		if v, good := l.value(a, ctx, cty.String, false); good {
			d, err := parseDuration(strings.TrimSpace(v.AsString()))
			switch {
			case err != nil:
				l.add(errorAt(a.Expr.Range(), "Invalid report_ttl",
					"%s. Write report_ttl like \"3m\" or \"90s\".", err))
				ok = false
			case d%time.Second != 0 || d < MinReportTTL || d > MaxReportTTL:
				l.add(errorAt(a.Expr.Range(), "Invalid report_ttl",
					"report_ttl = %q is outside 10s to 24h in whole seconds: a report must outlive a few agent passes, and etcd leases count seconds.", v.AsString()))
				ok = false
			default:
				be.ReportTTL = d
			}
		}
	}

	var tlsRange hcl.Range
	for i, tb := range content.Blocks {
		if i > 0 {
			l.add(errorAt(tb.DefRange, "Duplicate tls block",
				"This backend already has a tls block at %s. Merge the two blocks.", position(content.Blocks[0].DefRange)))
			ok = false
			continue
		}
		tlsRange = tb.DefRange
		t, good := l.backendTLS(tb, ctx)
		ok = ok && good
		be.TLS = t
	}
	if be.TLS != nil {
		for _, e := range be.Endpoints {
			if strings.HasPrefix(e, "http://") {
				l.add(errorAt(tlsRange, "TLS settings not used",
					"This backend has a tls block, but endpoint %q is plain http, so the certificates would not be used for it. Write https:// endpoints, or remove the tls block.", e))
				ok = false
				break
			}
		}
	}
	if !ok {
		return nil
	}
	return be
}

// backendTLS decodes the backend's tls block.
func (l *loader) backendTLS(b *hcl.Block, ctx *hcl.EvalContext) (*BackendTLS, bool) {
	content, diags := b.Body.Content(backendTLSSchema)
	l.add(diags...)
	ok := !diags.HasErrors()
	t := &BackendTLS{}
	str := func(name string) (string, hcl.Range) {
		a := content.Attributes[name]
		if a == nil {
			return "", hcl.Range{}
		}
		v, good := l.value(a, ctx, cty.String, false)
		if !good {
			ok = false
			return "", a.Expr.Range()
		}
		if v.AsString() == "" {
			l.add(errorAt(a.Expr.Range(), "Empty "+name, "%s is empty: name a file, or leave %s out.", name, name))
			ok = false
		}
		return v.AsString(), a.Expr.Range()
	}
	var certRange, keyRange hcl.Range
	t.CAFile, _ = str("ca_file")
	t.CertFile, certRange = str("cert_file")
	t.KeyFile, keyRange = str("key_file")
	switch {
	case t.CertFile != "" && t.KeyFile == "" && content.Attributes["key_file"] == nil:
		l.add(errorAt(certRange, "Missing key_file",
			"cert_file is set without key_file: a client certificate needs its private key. Add key_file, or remove cert_file."))
		ok = false
	case t.KeyFile != "" && t.CertFile == "" && content.Attributes["cert_file"] == nil:
		l.add(errorAt(keyRange, "Missing cert_file",
			"key_file is set without cert_file: a private key needs its client certificate. Add cert_file, or remove key_file."))
		ok = false
	}
	return t, ok
}

// endpointProblem says what is wrong with an etcd client URL, or "".
func endpointProblem(e string) string {
	if !strings.Contains(e, "://") {
		return "it has no scheme (http:// or https://)"
	}
	u, err := url.Parse(e)
	switch {
	case err != nil:
		return "it does not parse as a URL"
	case u.Scheme != "http" && u.Scheme != "https":
		return "the scheme must be http or https"
	case u.Host == "" || u.Hostname() == "":
		return "it names no host"
	case u.Port() == "":
		return "it names no port (etcd's client port is usually 2379)"
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/"):
		return "it must be scheme://host:port alone (credentials come from " + EnvEtcdUsername + " and " + EnvEtcdPassword + ")"
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		return "the port is not 1 to 65535"
	}
	return ""
}

// prefixProblem says what is wrong with a key prefix, or "".
func prefixProblem(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "does not start with \"/\""
	case len(p) > 1 && strings.HasSuffix(p, "/"):
		return "ends with \"/\""
	case p == "/":
		return "is the whole key space, shared with everything else in the cluster"
	case strings.Contains(p, "//"):
		return "holds an empty path element (\"//\")"
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x21 || r == 0x7f }):
		return "holds spaces or control characters"
	}
	return ""
}
