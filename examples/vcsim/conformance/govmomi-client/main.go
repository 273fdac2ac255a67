// Command govmomi-client drives a vCenter the way telegraf's vSAN input does, with
// govmomi's own packages (Debian's golang-github-vmware-govmomi-dev): it logs in, checks
// that the session is still valid on the next call, walks the inventory with
// view.Manager.CreateContainerView + ContainerView.Retrieve, and reads vSAN performance data
// with the vsan methods over a service client for /vsanHealth (namespace "vsan") that
// shares the session cookie. It also reads both versions files the way govmomi does
// (vim25.Client.UseServiceVersion) and makes one call with the version it found.
//
// It prints one JSON object on stdout: one entry per step, each with "ok" and, when a step
// failed, the error govmomi returned. It exits 0 whenever it could print that report.
//
// Build (GOPATH mode, as dh-golang does):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o govmomi-client main.go
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/view"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vsanmethods "github.com/vmware/govmomi/vsan/methods"
	vsantypes "github.com/vmware/govmomi/vsan/types"
)

// Step is one step's outcome.
type Step struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Cluster is what the inventory walk found about one cluster.
type Cluster struct {
	Moref string   `json:"moref"`
	Name  string   `json:"name"`
	Hosts []string `json:"hosts"`
}

// Series is one metric series of one entity.
type Series struct {
	Entity string    `json:"entity"`
	Label  string    `json:"label"`
	Times  []string  `json:"times"`
	Values []float64 `json:"values"`
}

// Report is the whole output.
type Report struct {
	Versions struct {
		Step
		Vim              string `json:"vim"`
		VimNamespace     string `json:"vim_namespace"`
		Vsan             string `json:"vsan"`
		VsanNamespace    string `json:"vsan_namespace"`
		NegotiatedCallOK bool   `json:"negotiated_call_ok"`
	} `json:"versions"`
	Login struct {
		Step
		APIVersion string `json:"api_version"`
	} `json:"login"`
	SessionValid struct {
		Step
		User string `json:"user"`
	} `json:"session_valid"`
	Inventory struct {
		Step
		Clusters []Cluster         `json:"clusters"`
		Hosts    map[string]string `json:"hosts"`
		VMNames  []string          `json:"vm_names"`
	} `json:"inventory"`
	EntityTypes struct {
		Step
		Names []string `json:"names"`
	} `json:"entity_types"`
	QueryPerf struct {
		Step
		Series []Series `json:"series"`
	} `json:"query_perf"`
	Logout Step `json:"logout"`
}

func fail(s *Step, err error) bool {
	if err != nil {
		s.Error = err.Error()
		return true
	}
	s.OK = true
	return false
}

func newSOAP(u *url.URL, caFile string, insecure bool) (*soap.Client, error) {
	sc := soap.NewClient(u, insecure)
	if caFile != "" {
		if err := sc.SetRootCAs(caFile); err != nil {
			return nil, err
		}
	}
	return sc, nil
}

func main() {
	rawURL := flag.String("url", "", "vCenter URL (http[s]://host:port)")
	user := flag.String("user", "administrator@vsphere.local", "user")
	password := flag.String("password", "VMware1!", "password")
	caFile := flag.String("ca-file", "", "PEM file of the CA to trust for HTTPS")
	insecure := flag.Bool("insecure", false, "skip certificate verification")
	entity := flag.String("entity", "host-domclient:*", "entityRefId of the performance query")
	start := flag.Int64("start", 0, "query start (Unix seconds, exclusive)")
	end := flag.Int64("end", 0, "query end (Unix seconds, inclusive)")
	timeout := flag.Duration("timeout", 60*time.Second, "deadline of the whole run")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil || u.Host == "" {
		fmt.Fprintf(os.Stderr, "govmomi-client: bad -url %q\n", *rawURL)
		os.Exit(2)
	}
	u.Path = "/sdk"
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	var r Report
	run(ctx, &r, u, *user, *password, *caFile, *insecure, *entity, *start, *end)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(&r); err != nil {
		os.Exit(1)
	}
}

func versions(ctx context.Context, r *Report, u *url.URL, caFile string, insecure bool) {
	v := &r.Versions
	sc, err := newSOAP(u, caFile, insecure)
	if fail(&v.Step, err) {
		return
	}
	c := &vim25.Client{Client: sc, RoundTripper: sc}
	if err := c.UseServiceVersion(); err != nil {
		v.OK = false
		v.Error = "vimServiceVersions.xml: " + err.Error()
		return
	}
	v.Vim, v.VimNamespace = sc.Version, sc.Namespace
	vs := sc.NewServiceClient("/vsanHealth", "vsan")
	if err := (&vim25.Client{Client: vs, RoundTripper: vs}).UseServiceVersion("vsan"); err != nil {
		v.OK = false
		v.Error = "vsanServiceVersions.xml: " + err.Error()
		return
	}
	v.Vsan, v.VsanNamespace = vs.Version, vs.Namespace
	// One call with the version read from the file: the server must accept its own version.
	_, err = methods.RetrieveServiceContent(ctx, c, &types.RetrieveServiceContent{This: vim25.ServiceInstance})
	if err != nil {
		v.OK = false
		v.Error = "RetrieveServiceContent with the negotiated version: " + err.Error()
		return
	}
	v.NegotiatedCallOK = true
}

func run(ctx context.Context, r *Report, u *url.URL, user, password, caFile string, insecure bool, entity string, start, end int64) {
	versions(ctx, r, u, caFile, insecure)

	sc, err := newSOAP(u, caFile, insecure)
	if fail(&r.Login.Step, err) {
		return
	}
	c, err := vim25.NewClient(ctx, sc)
	if fail(&r.Login.Step, err) {
		return
	}
	r.Login.APIVersion = c.ServiceContent.About.ApiVersion
	sm := session.NewManager(c)
	if fail(&r.Login.Step, sm.Login(ctx, url.UserPassword(user, password))) {
		return
	}
	defer func() { fail(&r.Logout, sm.Logout(ctx)) }()

	// The next call after Login must carry the session cookie back (a Secure cookie over
	// plain HTTP is never sent by Go's cookie jar).
	us, err := sm.UserSession(ctx)
	if err == nil && us == nil {
		err = fmt.Errorf("SessionManager.currentSession is empty after a successful Login (the session cookie did not come back, or currentSession is not served)")
	}
	if !fail(&r.SessionValid.Step, err) {
		r.SessionValid.User = us.UserName
	}

	clusters := inventory(ctx, r, c)

	vc := c.NewServiceClient("/vsanHealth", "vsan")
	perfManager := types.ManagedObjectReference{Type: "VsanPerformanceManager", Value: "vsan-performance-manager"}
	et, err := vsanmethods.VsanPerfGetSupportedEntityTypes(ctx, vc, &vsantypes.VsanPerfGetSupportedEntityTypes{This: perfManager})
	if !fail(&r.EntityTypes.Step, err) {
		for _, t := range et.Returnval {
			r.EntityTypes.Names = append(r.EntityTypes.Names, t.Name)
		}
		sort.Strings(r.EntityTypes.Names)
	}

	if len(clusters) == 0 {
		r.QueryPerf.Error = "no cluster found by the inventory walk"
		return
	}
	st, et2 := time.Unix(start, 0).UTC(), time.Unix(end, 0).UTC()
	for _, cl := range clusters {
		ref := cl
		res, err := vsanmethods.VsanPerfQueryPerf(ctx, vc, &vsantypes.VsanPerfQueryPerf{
			This:       perfManager,
			Cluster:    &ref,
			QuerySpecs: []vsantypes.VsanPerfQuerySpec{{EntityRefId: entity, StartTime: &st, EndTime: &et2}},
		})
		if fail(&r.QueryPerf.Step, err) {
			r.QueryPerf.Error = cl.Value + ": " + r.QueryPerf.Error
			return
		}
		for _, e := range res.Returnval {
			times := splitCSV(e.SampleInfo)
			for _, v := range e.Value {
				s := Series{Entity: e.EntityRefId, Label: v.MetricId.Label, Times: times}
				for _, x := range splitCSV(v.Values) {
					var f float64
					if _, err := fmt.Sscan(x, &f); err != nil {
						r.QueryPerf.OK = false
						r.QueryPerf.Error = fmt.Sprintf("%s %s: value %q is not a number", e.EntityRefId, v.MetricId.Label, x)
						return
					}
					s.Values = append(s.Values, f)
				}
				r.QueryPerf.Series = append(r.QueryPerf.Series, s)
			}
		}
	}
}

func splitCSV(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// inventory walks clusters and hosts as telegraf's vSAN input does (and every VM's name) and
// returns the clusters.
func inventory(ctx context.Context, r *Report, c *vim25.Client) []types.ManagedObjectReference {
	inv := &r.Inventory
	m := view.NewManager(c)
	v, err := m.CreateContainerView(ctx, c.ServiceContent.RootFolder, []string{"ClusterComputeResource", "HostSystem", "VirtualMachine"}, true)
	if fail(&inv.Step, err) {
		return nil
	}
	defer func() { _ = v.Destroy(ctx) }()
	var clusters []types.ObjectContent
	if fail(&inv.Step, v.Retrieve(ctx, []string{"ClusterComputeResource"}, []string{"name", "host"}, &clusters)) {
		return nil
	}
	var hosts []types.ObjectContent
	if fail(&inv.Step, v.Retrieve(ctx, []string{"HostSystem"}, []string{"name"}, &hosts)) {
		return nil
	}
	// Every VM's name in one unpaged RetrieveProperties (what ContainerView.Retrieve sends),
	// however many there are.
	var vms []types.ObjectContent
	if fail(&inv.Step, v.Retrieve(ctx, []string{"VirtualMachine"}, []string{"name"}, &vms)) {
		return nil
	}
	inv.VMNames = []string{}
	for _, o := range vms {
		for _, p := range o.PropSet {
			if name, ok := p.Val.(string); ok && p.Name == "name" {
				inv.VMNames = append(inv.VMNames, name)
			}
		}
	}
	sort.Strings(inv.VMNames)
	inv.Hosts = map[string]string{}
	for _, h := range hosts {
		for _, p := range h.PropSet {
			if p.Name == "name" {
				inv.Hosts[h.Obj.Value], _ = p.Val.(string)
			}
		}
	}
	var refs []types.ManagedObjectReference
	for _, o := range clusters {
		cl := Cluster{Moref: o.Obj.Value, Hosts: []string{}}
		for _, p := range o.PropSet {
			switch p.Name {
			case "name":
				cl.Name, _ = p.Val.(string)
			case "host":
				if hs, ok := p.Val.(types.ArrayOfManagedObjectReference); ok {
					for _, h := range hs.ManagedObjectReference {
						cl.Hosts = append(cl.Hosts, h.Value)
					}
				}
			}
		}
		inv.Clusters = append(inv.Clusters, cl)
		refs = append(refs, o.Obj)
	}
	if len(inv.Clusters) == 0 {
		inv.OK = false
		inv.Error = "ContainerView.Retrieve found no ClusterComputeResource"
	}
	return refs
}
