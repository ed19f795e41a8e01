package etcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netplan42/netplan42/internal/etcdtest"
	"github.com/netplan42/netplan42/schema"
	"github.com/netplan42/netplan42/state"
)

// certs writes a CA, a server certificate for 127.0.0.1 and a client
// certificate into dir, and returns their paths.
type certFiles struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func makeCerts(t *testing.T, dir string) certFiles {
	return makeCertsWith(t, dir, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth)
}

// makeCertsWith is makeCerts with the server certificate's extended key
// usages.
func makeCertsWith(t *testing.T, dir string, serverUsage ...x509.ExtKeyUsage) certFiles {
	t.Helper()
	now := time.Now()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "netplan42 test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name string, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(serial int64, cn string, usage []x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return write(cn+".pem", "CERTIFICATE", der), write(cn+".key", "EC PRIVATE KEY", kb)
	}
	var f certFiles
	f.ca = write("ca.pem", "CERTIFICATE", caDER)
	// etcd 3.4's JSON gateway presents the server certificate to etcd's
	// own gRPC service as a client certificate: with --client-cert-auth
	// it needs clientAuth too (TestTLSServerCertWithoutClientAuth).
	f.serverCert, f.serverKey = leaf(2, "server", serverUsage, []net.IP{net.IPv4(127, 0, 0, 1)})
	f.clientCert, f.clientKey = leaf(3, "client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil)
	return f
}

// startTLS starts an etcd that serves TLS with f's certificates and asks
// for client certificates, and returns its client URL.
func startTLS(t *testing.T, f certFiles) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(f.clientCert, f.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(f.ca)
	pool.AppendCertsFromPEM(caPEM)
	cl := etcdtest.StartWith(t, 1, etcdtest.Options{
		ClientTLS: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		Args:      []string{"--cert-file", f.serverCert, "--key-file", f.serverKey, "--trusted-ca-file", f.ca, "--client-cert-auth"},
	})
	return cl.Members[0].ClientURL
}

// TestTLS: the backend's tls block against an etcd that serves TLS and
// asks for client certificates.
func TestTLS(t *testing.T) {
	etcdtest.Require(t)
	f := makeCerts(t, t.TempDir())
	ep := startTLS(t, f)
	be := &schema.Backend{Kind: schema.BackendEtcd, Endpoints: []string{ep}, Prefix: "/np",
		TLS: &schema.BackendTLS{CAFile: f.ca, CertFile: f.clientCert, KeyFile: f.clientKey}}
	c, err := Dial(be)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := c.ComputerStore("nas")
	if err := s.Write(state.New("computer.nas")); err != nil {
		t.Fatalf("write over TLS: %v", err)
	}
	unlock, err := s.Lock(context.Background(), state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatalf("lock over TLS: %v", err)
	}
	unlock()

	// Without the client certificate the server refuses: an error naming
	// the endpoint, in bounded time.
	be.TLS = &schema.BackendTLS{CAFile: f.ca}
	bare, err := Dial(be)
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if _, err := bare.ReadClaims(ctx); err == nil || !strings.Contains(err.Error(), ep) {
		t.Fatalf("read without a client certificate = %v; want an error naming %s", err, ep)
	} else {
		t.Log(err)
	}
}

// TestTLSServerCertWithoutClientAuth: etcd 3.4's JSON gateway presents
// the server certificate to etcd itself as a client certificate, so with
// --client-cert-auth a server certificate for serverAuth only makes every
// request fail with "connection closed" (etcd logs "incompatible key
// usage"); the error says so.
func TestTLSServerCertWithoutClientAuth(t *testing.T) {
	etcdtest.Require(t)
	f := makeCertsWith(t, t.TempDir(), x509.ExtKeyUsageServerAuth)
	ep := startTLS(t, f)
	c, err := Dial(&schema.Backend{Kind: schema.BackendEtcd, Endpoints: []string{ep}, Prefix: "/np",
		TLS: &schema.BackendTLS{CAFile: f.ca, CertFile: f.clientCert, KeyFile: f.clientKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = c.ReadClaims(ctx)
	if err == nil || !strings.Contains(err.Error(), "clientAuth extended key usage") || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("read through a gateway that cannot reach etcd = %v; want the clientAuth hint", err)
	}
	t.Log(err)
}

// TestAuth: user name and password from the environment, against an
// etcd with authentication on and a user allowed only under the prefix.
func TestAuth(t *testing.T) {
	m := etcdtest.Start(t)
	ctx := context.Background()
	enableAuth(t, m.ClientURL)
	t.Setenv(schema.EnvEtcdUsername, "fleet")
	t.Setenv(schema.EnvEtcdPassword, "s3cret")
	c := dial(t, []string{m.ClientURL}, "/np")
	s := c.ComputerStore("nas")
	if err := s.Write(state.New("computer.nas")); err != nil {
		t.Fatalf("write as fleet: %v", err)
	}
	unlock, err := s.Lock(ctx, state.LockInfo{Operation: "apply", Exclusive: true})
	if err != nil {
		t.Fatalf("lock as fleet: %v", err)
	}
	unlock()
	if _, _, diags, err := c.Allocate(ctx, fleet(t, 3), schema.AllocateOptions{}); err != nil || diags.HasErrors() {
		t.Fatalf("claims as fleet: %v %v", err, diags)
	}
	// Outside the prefix the user may not write.
	other := dial(t, []string{m.ClientURL}, "/elsewhere")
	if err := other.ComputerStore("nas").Write(state.New("computer.nas")); err == nil {
		t.Fatal("write outside the user's prefix succeeded")
	} else {
		t.Log(err)
	}
	t.Setenv(schema.EnvEtcdPassword, "")
	if _, err := Dial(&schema.Backend{Kind: schema.BackendEtcd, Endpoints: []string{m.ClientURL}, Prefix: "/np"}); err == nil ||
		!strings.Contains(err.Error(), schema.EnvEtcdPassword) {
		t.Fatalf("dial with a user name and no password = %v; want an error naming %s", err, schema.EnvEtcdPassword)
	}
}
