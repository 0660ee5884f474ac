package test

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vrrpd/vrrpd/configs"
	"github.com/vrrpd/vrrpd/test/lab"
	"github.com/vrrpd/vrrpd/test/lab/labtest"
)

// The packaging under test, relative to this directory.
const (
	dockerfilePath = "../configs/docker/Dockerfile"
	daemonSetPath  = "../configs/kubernetes/daemonset.yaml"
	unitPath       = "../configs/systemd/vrrpd.service"
	// installedBinary is where every package puts vrrpd: the image, the unit's ExecStart and the
	// DaemonSet's probes.
	installedBinary = "/usr/local/sbin/vrrpd"
)

// TestContainerFailover builds the image from configs/docker/Dockerfile and runs it for real:
// two vrrpd containers share a VIP on a private docker network, holding only NET_ADMIN and
// NET_RAW. The master container is killed, and the VIP moves to the other one: its status says
// MASTER through `docker exec`, and a client on the network reaches the VIP again, now at the
// survivor's MAC address.
//
// The client is a network namespace of the test's own, plugged into the bridge of the test's
// docker network, rather than a container: the image holds only vrrpd, which has nothing to run
// as a client (no shell, no ping, and `vrrpd run` needs an instance), and no other image can be
// pulled. Its cable is the same kind docker gives a container (a veth into that bridge), so the
// client sees what a container would, and the lab's Pinger and Neighbor observe it exactly as in
// the namespace tests. Nothing is attached to docker0 or to the machine's own interfaces.
func TestContainerFailover(t *testing.T) {
	requireDocker(t)
	id := lab.NewPrefix() // names every object of this run: images, containers, networks, namespaces
	image := buildImage(t, id)
	nw := createNetwork(t, id)
	vip := nw.host(99)
	vips := []string{netip.PrefixFrom(vip, nw.subnet.Bits()).String()}
	conf := func(routerID string, prio int) string {
		return config(routerID, vr{name: "VI_1", vrid: 51, prio: prio, interval: "200ms", vips: vips})
	}
	// lb1 runs with the image's defaults; lb2 with the optional read-only root and a tmpfs for
	// its control socket, as the Dockerfile's header describes. (Never --network host: a test
	// must not touch the machine's own interfaces.)
	lb1 := runContainer(t, image, nw, "lb1", nw.host(20), conf("lb1", 110))
	lb2 := runContainer(t, image, nw, "lb2", nw.host(21), conf("lb2", 100), "--read-only", "--tmpfs", "/run/vrrpd")
	client := nw.addClient(t, nw.host(10))

	// Before: lb1 has the higher priority, so it is master, and lb2 knows it.
	type view struct {
		State, Master string
		VIPs          []string
	}
	got1 := lb1.waitState(t, "VI_1", "MASTER", 15*time.Second)
	got2 := lb2.waitState(t, "VI_1", "BACKUP", 15*time.Second)
	want := []view{{"MASTER", lb1.ip.String(), vips}, {"BACKUP", lb1.ip.String(), vips}}
	if diff := cmp.Diff(want, []view{{got1.State, got1.Master, got1.VIPs}, {got2.State, got2.Master, got2.VIPs}}); diff != "" {
		t.Fatalf("before the kill, status through docker exec (-want +got):\n%s", diff)
	}
	// The table, as an operator types it.
	if table := lb1.exec(t, "vrrpd", "status"); !hasRow(table, "VI_1", "MASTER") {
		t.Fatalf("docker exec %s vrrpd status: no row for VI_1 as MASTER:\n%s", lb1.name, table)
	}

	p, err := lab.StartPinger(client, vip, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop() })
	if err := p.WaitReply(time.Now(), 10*time.Second); err != nil {
		t.Fatalf("the client cannot reach the VIP %s: %v", vip, err)
	}
	clientFollows(t, client, vip, lb1.mac)

	// The master dies without a word (SIGKILL: no priority-0 advert), and its network namespace
	// with it, so lb2 must notice the silence.
	if _, err := dockerCLI(t.Context(), "kill", lb1.name); err != nil {
		t.Fatal(err)
	}
	lb1.waitExited(t, 10*time.Second)

	got2 = lb2.waitState(t, "VI_1", "MASTER", 10*time.Second)
	if diff := cmp.Diff(view{"MASTER", lb2.ip.String(), vips}, view{got2.State, got2.Master, got2.VIPs}); diff != "" {
		t.Fatalf("after the kill, lb2's status (-want +got):\n%s", diff)
	}
	// lb1's namespace is gone, so every reply from now on comes from lb2.
	if err := p.WaitReply(time.Now(), 10*time.Second); err != nil {
		t.Fatalf("the client lost the VIP %s after the failover: %v", vip, err)
	}
	clientFollows(t, client, vip, lb2.mac)
	s := p.Stats()
	t.Logf("the client's longest gap in replies: %s (%d of %d pings answered)", s.MaxGap.Round(time.Millisecond), s.Received, s.Sent)
}

// requireDocker skips t unless it runs as root with a working Docker Engine (and fails instead
// with VRRPD_REQUIRE_E2E=1, as CI sets).
func requireDocker(t *testing.T) {
	t.Helper()
	labtest.RequireRoot(t, "the client runs in a network namespace")
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	reason := ""
	if _, err := exec.LookPath("docker"); err != nil {
		reason = "needs the docker CLI on PATH: " + err.Error()
	} else if _, err := dockerCLI(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		reason = "needs a running Docker Engine: " + err.Error()
	}
	if reason != "" {
		labtest.Skip(t, reason)
	}
}

// dockerCLI runs the docker CLI and returns its output, trimmed; a failure carries stderr.
func dockerCLI(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// cleanupDocker runs a docker command when t ends (t.Context is done by then), reporting failure.
func cleanupDocker(t *testing.T, args ...string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := dockerCLI(ctx, args...); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
}

// buildImage builds the static binary and the image from configs/docker/Dockerfile, with the two
// commands the Dockerfile's header gives, and removes the image when t ends.
func buildImage(t *testing.T, id string) string {
	t.Helper()
	dir := t.TempDir() // the build context: the binary alone
	bin := filepath.Join(dir, "vrrpd")
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "../cmd/vrrpd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the static vrrpd: %v\n%s", err, out)
	}
	if err := isStatic(bin); err != nil {
		t.Fatal(err) // FROM scratch has no dynamic loader: the container could not even start
	}
	tag := "vrrpd-test:" + id
	cleanupDocker(t, "rmi", "--force", tag)
	if _, err := dockerCLI(t.Context(), "build", "--quiet", "--label", "vrrpd-test="+id,
		"--file", dockerfilePath, "--tag", tag, dir); err != nil {
		t.Fatal(err)
	}
	return tag
}

// isStatic reports an error unless the ELF file at path runs without a dynamic loader.
func isStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked: the image is FROM scratch", path)
		}
	}
	return nil
}

// dockerNet is the test's private docker network.
type dockerNet struct {
	name   string
	bridge string // its Linux bridge, named by the test
	subnet netip.Prefix
	id     string
}

// host returns address .n of the network's /24.
func (n *dockerNet) host(i byte) netip.Addr {
	a := n.subnet.Addr().As4()
	a[3] = i
	return netip.AddrFrom4(a)
}

// createNetwork creates a bridge network on a free 10.213.N.0/24, removed when t ends.
//
// It is not --internal: that mode's isolation rules drop forwarded packets whose destination is
// outside the subnet, and with bridge netfilter on (as docker sets it) 224.0.0.18 is such a
// destination, so no advert would pass and both nodes would be master. Masquerading is off: the
// containers have nothing to reach beyond the network.
func createNetwork(t *testing.T, id string) *dockerNet {
	t.Helper()
	used := usedPrefixes(t)
	for range 20 {
		subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 213, byte(rand.IntN(254) + 1), 0}), 24)
		if slices.ContainsFunc(used, subnet.Overlaps) {
			continue
		}
		n := &dockerNet{name: "vrrpd-test-" + id, bridge: id + "br", subnet: subnet, id: id}
		_, err := dockerCLI(t.Context(), "network", "create", "--driver", "bridge", "--label", "vrrpd-test="+id,
			"--subnet", subnet.String(), "--gateway", n.host(1).String(),
			"--opt", "com.docker.network.bridge.name="+n.bridge,
			"--opt", "com.docker.network.bridge.enable_ip_masquerade=false",
			n.name)
		if err != nil && strings.Contains(err.Error(), "overlap") {
			continue // a network created since usedPrefixes looked
		}
		if err != nil {
			t.Fatal(err)
		}
		cleanupDocker(t, "network", "rm", n.name)
		return n
	}
	t.Fatal("no free /24 in 10.213.0.0/16 for the test's docker network")
	return nil
}

// usedPrefixes lists the IPv4 routes and addresses of the machine, in every routing table;
// docker's networks are among them, as routes to their bridges.
func usedPrefixes(t *testing.T) []netip.Prefix {
	t.Helper()
	var used []netip.Prefix
	for _, args := range [][]string{{"-4", "route", "show", "table", "all"}, {"-4", "-o", "addr", "show"}} {
		out, err := exec.CommandContext(t.Context(), "ip", args...).Output()
		if err != nil {
			t.Fatalf("ip %s: %v", strings.Join(args, " "), err)
		}
		for line := range strings.Lines(string(out)) {
			for _, f := range strings.Fields(line) {
				if p, err := netip.ParsePrefix(f); err == nil && p.Addr().Is4() && p.Bits() > 0 {
					used = append(used, p.Masked())
				} else if a, err := netip.ParseAddr(f); err == nil && a.Is4() {
					used = append(used, netip.PrefixFrom(a, 32))
				}
			}
		}
	}
	return used
}

// addClient creates the client: a network namespace whose eth0 is plugged into the network's
// bridge, with addr. Both are removed when t ends.
func (n *dockerNet) addClient(t *testing.T, addr netip.Addr) *lab.Host {
	t.Helper()
	ns, port := n.id+"-client", n.id+"c"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		// Deleting the bridge's end deletes the whole cable, in case a process still holds
		// the namespace.
		exec.Command("ip", "link", "delete", port).Run()
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Errorf("cleanup: ip netns delete %s: %v: %s", ns, err, bytes.TrimSpace(out))
		}
	})
	ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	ip("link", "set", port, "master", n.bridge, "up")
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "addr", "add", netip.PrefixFrom(addr, n.subnet.Bits()).String(), "dev", "eth0")
	ip("-n", ns, "link", "set", "eth0", "up")
	// Only exported fields: the client is not part of a lab, and Do, Neighbor and StartPinger
	// need nothing else.
	return &lab.Host{Name: "client", NS: ns}
}

// container is one vrrpd container on the test's network.
type container struct {
	name string
	ip   netip.Addr
	mac  net.HardwareAddr
}

// runContainer starts image on nw as node with address ip, its config mounted read-only at
// /etc/vrrpd/vrrpd.toml, holding only NET_ADMIN and NET_RAW. It is removed when t ends, and
// its log shown if t failed.
func runContainer(t *testing.T, image string, nw *dockerNet, node string, ip netip.Addr, conf string, extra ...string) *container {
	t.Helper()
	etc := t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "vrrpd.toml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &container{name: nw.name + "-" + node, ip: ip}
	t.Cleanup(func() {
		if t.Failed() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, _ := exec.CommandContext(ctx, "docker", "logs", c.name).CombinedOutput()
			t.Logf("--- %s's log:\n%s", c.name, out)
		}
	})
	cleanupDocker(t, "rm", "--force", c.name)
	args := []string{"run", "--detach", "--name", c.name, "--label", "vrrpd-test=" + nw.id,
		"--network", nw.name, "--ip", ip.String(),
		"--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
		"--volume", etc + ":/etc/vrrpd:ro"}
	args = append(append(args, extra...), image) // the image's own command: vrrpd run
	if _, err := dockerCLI(t.Context(), args...); err != nil {
		t.Fatal(err)
	}
	out, err := dockerCLI(t.Context(), "inspect", "--format", "{{json .NetworkSettings.Networks}}", c.name)
	if err != nil {
		t.Fatal(err)
	}
	var nets map[string]struct{ IPAddress, MacAddress string }
	if err := json.Unmarshal([]byte(out), &nets); err != nil {
		t.Fatalf("docker inspect %s: %v: %s", c.name, err, out)
	}
	if got := nets[nw.name].IPAddress; got != ip.String() {
		t.Fatalf("%s has address %q on %s, want %s", c.name, got, nw.name, ip)
	}
	if c.mac, err = net.ParseMAC(nets[nw.name].MacAddress); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return c
}

// exec runs argv in the container with docker exec and returns its output.
func (c *container) exec(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := dockerCLI(t.Context(), append([]string{"exec", c.name}, argv...)...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// instance runs `vrrpd status --json` in the container, as an operator would, and returns the
// named instance.
func (c *container) instance(ctx context.Context, name string) (instance, error) {
	out, err := dockerCLI(ctx, "exec", c.name, "vrrpd", "status", "--json")
	if err != nil {
		return instance{}, err
	}
	s, err := parseStatus(c.name, []byte(out))
	if err != nil {
		return instance{}, err
	}
	if in, ok := s.instance(name); ok {
		return in, nil
	}
	return instance{}, fmt.Errorf("%s has no instance %q", c.name, name)
}

// waitState polls the container's status until the instance is in state.
func (c *container) waitState(t *testing.T, name, state string, within time.Duration) instance {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		in, err := c.instance(t.Context(), name)
		if err == nil && in.State == state {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: not %s within %s: %+v %v", c.name, name, state, within, in, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitExited waits until docker reports the container stopped.
func (c *container) waitExited(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		out, err := dockerCLI(t.Context(), "inspect", "--format", "{{.State.Running}}", c.name)
		if err == nil && out == "false" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still running %s after docker kill: %q %v", c.name, within, out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hasRow reports whether the status table has a row whose first column is name and which shows
// state.
func hasRow(table, name, state string) bool {
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == name && slices.Contains(f, state) {
			return true
		}
	}
	return false
}

// TestContainerKubernetesManifest checks configs/kubernetes/daemonset.yaml without a cluster:
// every per-node config in its ConfigMap is a valid vrrpd config for the node it is named after,
// and, where kubectl is installed, kustomize (built into kubectl, offline) parses the whole file:
// well-formed YAML, no duplicate keys, every object with its kind and name. The Kubernetes schema
// itself needs an API server and is not checked.
func TestContainerKubernetesManifest(t *testing.T) {
	manifest, err := os.ReadFile(daemonSetPath)
	if err != nil {
		t.Fatal(err)
	}
	files := configMapFiles(t, manifest)
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"lb1.toml", "lb2.toml"}, names); diff != "" {
		t.Fatalf("the ConfigMap's files (-want +got):\n%s", diff)
	}
	dir := t.TempDir()
	cfgs := map[string]*configs.Config{}
	for _, name := range names {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := configs.Load(path)
		if err != nil {
			t.Fatalf("the ConfigMap's %s is not a valid config: %v", name, err)
		}
		// The pod on node lb1 reads lb1.toml: it must say it is lb1.
		if want := strings.TrimSuffix(name, ".toml"); cfg.Global.RouterID != want {
			t.Errorf("%s: router_id %q, want %q", name, cfg.Global.RouterID, want)
		}
		// A ConfigMap update reaches the daemon without a restart (Kubernetes sends no SIGHUP).
		if !cfg.Global.WatchConfig {
			t.Errorf("%s: watch_config is off", name)
		}
		cfgs[name] = cfg
	}
	// The pair must agree on everything but who they are and their priority.
	a, b := cfgs["lb1.toml"].Instances, cfgs["lb2.toml"].Instances
	if len(a) != 1 || len(b) != 1 {
		t.Fatalf("want one instance per node, got %d and %d", len(a), len(b))
	}
	if a[0].VRID != b[0].VRID || a[0].AdvertInterval != b[0].AdvertInterval || !slices.Equal(a[0].VIPs, b[0].VIPs) || a[0].Priority == b[0].Priority {
		t.Errorf("lb1 and lb2 disagree: vrid %d/%d, advert_interval %s/%s, vips %v/%v, priorities %d/%d (must differ)",
			a[0].VRID, b[0].VRID, a[0].AdvertInterval, b[0].AdvertInterval, a[0].VIPs, b[0].VIPs, a[0].Priority, b[0].Priority)
	}

	// A drain outlives the pod: state_dir is on the node.
	if !regexp.MustCompile(`(?s)- name: state\s+mountPath: /var/lib/vrrpd.*- name: state\s+hostPath:\s+path: /var/lib/vrrpd`).Match(manifest) {
		t.Error("the DaemonSet does not keep /var/lib/vrrpd (global.state_dir) on the node")
	}

	t.Run("kustomize", func(t *testing.T) {
		if _, err := exec.LookPath("kubectl"); err != nil {
			t.Skip("kubectl is not installed: the YAML is not parsed (not an end-to-end test, so VRRPD_REQUIRE_E2E does not apply)")
		}
		k := t.TempDir()
		if err := os.WriteFile(filepath.Join(k, "daemonset.yaml"), manifest, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(k, "kustomization.yaml"), []byte("resources:\n- daemonset.yaml\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(t.Context(), "kubectl", "kustomize", k).CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl kustomize: %v\n%s", err, out)
		}
		var kinds []string
		for _, m := range regexp.MustCompile(`(?m)^kind: (\S+)$`).FindAllSubmatch(out, -1) {
			kinds = append(kinds, string(m[1]))
		}
		slices.Sort(kinds)
		if diff := cmp.Diff([]string{"ConfigMap", "DaemonSet", "Namespace"}, kinds); diff != "" {
			t.Errorf("objects in the manifest (-want +got):\n%s", diff)
		}
	})
}

// configMapFiles returns the "NAME.toml: |" block scalars of a manifest, dedented. It reads only
// that shape, the one the manifest uses: a key at some indentation, and the file's lines indented
// further (or blank) below it.
func configMapFiles(t *testing.T, manifest []byte) map[string]string {
	t.Helper()
	key := regexp.MustCompile(`^( *)([A-Za-z0-9._-]+\.toml): \|$`)
	files := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(manifest))
	var name, indent string
	var body strings.Builder
	flush := func() {
		if name != "" {
			files[name] = body.String()
		}
		name = ""
		body.Reset()
	}
	for sc.Scan() {
		line := sc.Text()
		if name != "" {
			if strings.TrimSpace(line) == "" {
				body.WriteString("\n")
				continue
			}
			if strings.HasPrefix(line, indent) {
				body.WriteString(strings.TrimPrefix(line, indent) + "\n")
				continue
			}
			flush()
		}
		if m := key.FindStringSubmatch(line); m != nil {
			name, indent = m[2], m[1]+"  "
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return files
}

// TestContainerPackagingPaths checks that the image, the systemd unit and the DaemonSet agree on
// where the binary is, so that `docker exec C vrrpd`, ExecStart and the probes all find it.
func TestContainerPackagingPaths(t *testing.T) {
	find := func(path, pattern string) []string {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range regexp.MustCompile(pattern).FindAllSubmatch(b, -1) {
			got = append(got, string(m[1]))
		}
		if len(got) == 0 {
			t.Fatalf("%s: nothing matches %s", path, pattern)
		}
		return got
	}
	for _, c := range []struct {
		what    string
		path    string
		pattern string
	}{
		{"the Dockerfile's COPY", dockerfilePath, `(?m)^COPY vrrpd (\S+)$`},
		{"the Dockerfile's ENTRYPOINT", dockerfilePath, `(?m)^ENTRYPOINT \["([^"]+)"\]$`},
		{"the unit's ExecStart and ExecReload", unitPath, `(?m)^Exec(?:Start|Reload)=(/\S+/vrrpd) `},
		{"the DaemonSet's probes", daemonSetPath, `command: \["([^"]+)", "status"\]`},
	} {
		for _, got := range find(c.path, c.pattern) {
			if got != installedBinary {
				t.Errorf("%s: %s, want %s", c.what, got, installedBinary)
			}
		}
	}
}
