// Command govmomi-sim runs govmomi's own vCenter simulator (simulator.VPX()) from the
// Debian package's sources, for the exporter's conformance tests.
//
// It listens on 127.0.0.1 (a free port unless -listen says otherwise), prints one JSON line
// {"url": "...", "ca_file": "..."} on stdout, and serves until stdin is closed. Each line
// "sessions" read on stdin is answered with {"sessions": N}: the sessions the simulator holds
// that are not the one this command opens to count them (read through
// SessionManager.sessionList, as a vCenter administrator would).
//
// Build (GOPATH mode, as dh-golang does):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o govmomi-sim main.go
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	useTLS := flag.Bool("tls", false, "serve HTTPS with a certificate for 127.0.0.1 signed by a CA generated at start (its PEM file is printed as ca_file)")
	clusters := flag.Int("clusters", 1, "clusters per datacenter")
	hosts := flag.Int("hosts", 3, "hosts per cluster")
	vms := flag.Int("vms", 2, "VMs per resource pool")
	user := flag.String("user", "administrator@vsphere.local", "user accepted by Login")
	password := flag.String("password", "VMware1!", "password accepted by Login")
	flag.Parse()
	if err := run(*listen, *useTLS, *clusters, *hosts, *vms, *user, *password); err != nil {
		fmt.Fprintf(os.Stderr, "govmomi-sim: %v\n", err)
		os.Exit(1)
	}
}

func run(listen string, useTLS bool, clusters, hosts, vms int, user, password string) error {
	model := simulator.VPX()
	model.Cluster = clusters
	model.ClusterHost = hosts
	model.Machine = vms
	if err := model.Create(); err != nil {
		return fmt.Errorf("create model: %w", err)
	}
	defer model.Remove()
	model.Service.Listen = &url.URL{Host: listen, User: url.UserPassword(user, password)}
	var caFile string
	if useTLS {
		// A CA and a leaf certificate for 127.0.0.1 signed by it, as a vCenter's VMCA issues:
		// the simulator's default certificate is its own CA, which strict clients (rustls)
		// refuse as a server certificate.
		cert, caPEM, err := issue()
		if err != nil {
			return fmt.Errorf("certificate: %w", err)
		}
		f, err := os.CreateTemp("", "govmomi-sim-ca-*.pem")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		if _, err := f.Write(caPEM); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		caFile = f.Name()
		model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	server := model.Service.NewServer()
	defer server.Close()

	plain := *server.URL
	plain.User = nil
	hello := map[string]string{"url": plain.String()}
	if caFile != "" {
		hello["ca_file"] = caFile
	}
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(hello); err != nil {
		return err
	}

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "sessions":
			n, err := countSessions(server.URL, useTLS)
			if err != nil {
				_ = out.Encode(map[string]string{"error": err.Error()})
				continue
			}
			_ = out.Encode(map[string]int{"sessions": n})
		case "":
		default:
			_ = out.Encode(map[string]string{"error": "unknown command " + in.Text()})
		}
	}
	return in.Err()
}

// countSessions logs in, reads SessionManager.sessionList, logs out and returns the number
// of sessions other than its own.
func countSessions(u *url.URL, useTLS bool) (int, error) {
	ctx := context.Background()
	sc := soap.NewClient(u, useTLS)
	c, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return 0, fmt.Errorf("client: %w", err)
	}
	m := session.NewManager(c)
	if err := m.Login(ctx, u.User); err != nil {
		return 0, fmt.Errorf("login: %w", err)
	}
	defer func() { _ = m.Logout(ctx) }()
	var sm mo.SessionManager
	pc := property.DefaultCollector(c)
	if err := pc.RetrieveOne(ctx, *c.ServiceContent.SessionManager, []string{"sessionList", "currentSession"}, &sm); err != nil {
		return 0, fmt.Errorf("read sessionList: %w", err)
	}
	n := 0
	for _, s := range sm.SessionList {
		if sm.CurrentSession == nil || s.Key != sm.CurrentSession.Key {
			n++
		}
	}
	return n, nil
}

// issue returns a leaf certificate for 127.0.0.1 and localhost and the PEM of the CA that
// signed it.
func issue() (tls.Certificate, []byte, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "govmomi-sim test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		DNSNames:     []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caTmpl, &leafKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert := tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
	return cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), nil
}
