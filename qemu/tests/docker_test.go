package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"berth.dev/berth/qemu"
	"berth.dev/berth/qemu/vmtest"
)

// waitRun runs cmd over SSH until its output matches re.
func waitRun(t *testing.T, c *ssh.Client, cmd, re string, timeout time.Duration) string {
	t.Helper()
	want := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, _ := s.CombinedOutput(cmd)
		s.Close()
		if want.Match(out) {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q never printed /%s/ within %v; last:\n%s%s", cmd, re, timeout, out, diagnose(c, cmd))
		}
		time.Sleep(time.Second)
	}
}

func httpGet(url string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return string(b), nil
			}
			err = fmt.Errorf("%s: %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return "", err
		}
		time.Sleep(time.Second)
	}
}

// The user engine: the default user (a key from user-data, in group
// docker) loads an image built offline, runs it, publishes a port the
// host reaches, and keeps a volume and a --restart=always container
// across a reboot. os-ctl shows console and docker up with their memory.
// Docker's own CLI plugins work from the console: docker build (BuildKit
// through buildx) from the loaded image, and a compose project with two
// services, depends_on, a named volume and a published port.
func TestDocker(t *testing.T) {
	t.Parallel()
	signer, key := sshKey(t)
	dir := t.TempDir()
	ud := filepath.Join(dir, "user-data")
	// Two registries on the host: one over TLS with a certificate from
	// a CA only ca_certs makes trusted, one over plain HTTP, allowed by
	// insecure-registries and reached through berth.proxy's HTTP proxy.
	caPEM, cert, certKey := testPKI(t, dir)
	tlsReg := startRegistry(t, dir, "tls-registry", cert, certKey)
	httpReg := startRegistry(t, dir, "http-registry", "", "")
	proxyPort, proxied := forwardProxy(t)
	os.WriteFile(ud, []byte(fmt.Sprintf(`#cloud-config
ssh_authorized_keys:
  - %s
ca_certs:
  trusted:
    - |
%s
berth:
  docker:
    log-driver: json-file
    log-opts: {max-size: 1m}
    insecure-registries: ["10.0.2.2:%d"]
  proxy:
    http: http://10.0.2.2:%d
`, key, "      "+strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n      "), httpReg, proxyPort)), 0o644)
	b := vmtest.FindBuild(t)
	img := busyboxImage(t, b, "berth-test/busybox:1")
	sshPort, webPort, composePort := freePort(t), freePort(t), freePort(t)
	cfg := direct(b, "A")
	cfg.Dir = dir
	cfg.Forwards = []qemu.Forward{{Host: sshPort, Guest: 22}, {Host: webPort, Guest: 8080}, {Host: composePort, Guest: 8081}}
	cfg.Extra = []string{"-fw_cfg", "name=opt/berth/user-data,file=" + ud}
	keyCfg := &ssh.ClientConfig{User: "berth", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 30 * time.Second}

	boot := func() (*vmtest.VM, *ssh.Client) {
		vm := vmtest.Start(t, cfg)
		expectReady(t, vm, "A")
		vm.MustExpect(t, `^berth: service docker\.service: up$`, 3*time.Minute)
		c, err := dialSSH(t, sshPort, keyCfg, 2*time.Minute)
		if err != nil {
			t.Fatalf("ssh: %v", err)
		}
		return vm, c
	}
	vm, c := boot()

	// docker as the default user, without sudo: the socket's group.
	if out := run(t, c, "id -nG; docker info --format '{{.Driver}} {{.CgroupVersion}} {{.LoggingDriver}} {{.DockerRootDir}}'"); !regexp.MustCompile(`\bdocker\b`).MatchString(out) || !strings.Contains(out, "overlay2 2 json-file /var/lib/docker") {
		t.Errorf("docker info:\n%s", out)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	if out := runInput(t, c, "docker load", f); !strings.Contains(out, "Loaded image: berth-test/busybox:1") {
		t.Errorf("docker load:\n%s", out)
	}
	f.Close()
	if out := run(t, c, "docker run --rm berth-test/busybox:1 echo hi"); out != "hi\n" {
		t.Errorf("docker run echo: %q", out)
	}
	// A named volume served by a published, always-restarted container.
	run(t, c, "docker run --rm -v webdata:/www berth-test/busybox:1 sh -c 'echo hello from the volume > /www/index.html'")
	run(t, c, "docker run -d --name web --restart=always -p 8080:80 -v webdata:/www berth-test/busybox:1 httpd -f -p 80 -h /www")
	if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", webPort), time.Minute); err != nil || body != "hello from the volume\n" {
		t.Errorf("GET through the published port: %q, %v", body, err)
	}
	// The engine's containers live below its own cgroup (the console sees
	// it from its own cgroup namespace, /berth/console.service).
	if out := run(t, c, "cat /proc/$(docker inspect -f '{{.State.Pid}}' web)/cgroup"); !regexp.MustCompile(`^0::/\.\./docker\.service/docker/[0-9a-f]{64}\n$`).MatchString(out) {
		t.Errorf("container cgroup: %s", out)
	}
	out := run(t, c, "sudo -n os-ctl service ls")
	for _, name := range []string{"console", "docker"} {
		if !regexp.MustCompile(`(?m)^` + name + `\s+up\s.*\s\d+(\.\d+)?[MG]\s`).MatchString(out) {
			t.Errorf("os-ctl service ls: no %s up with its memory:\n%s", name, out)
		}
	}
	// Nobody has a password: no login prompt on the serial console.
	if !regexp.MustCompile(`(?m)^serial-login\s+skipped`).MatchString(out) {
		t.Errorf("os-ctl service ls: serial-login should be skipped:\n%s", out)
	}

	composeAndBuild(t, c, composePort)
	pushPull(t, c, fmt.Sprintf("10.0.2.2:%d/berth/busybox:tls", tlsReg))
	before := proxied.Load()
	pushPull(t, c, fmt.Sprintf("10.0.2.2:%d/berth/busybox:plain", httpReg))
	if proxied.Load() == before {
		t.Errorf("the plain HTTP registry was not reached through berth.proxy's proxy")
	}
	// The same CA for the console's tools.
	if out := run(t, c, fmt.Sprintf("curl -sS https://10.0.2.2:%d/v2/ -o /dev/null -w '%%{http_code}'", tlsReg)); out != "200" {
		t.Errorf("curl with the ca_certs CA: %q", out)
	}

	// Reboot: the image, the volume and the container come back.
	c.Close()
	vm.PowerOff(t, 2*time.Minute)
	vm, c = boot()
	defer c.Close()
	waitRun(t, c, "docker ps --filter name=web --format '{{.Status}}'", `^Up `, 2*time.Minute)
	if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", webPort), time.Minute); err != nil || body != "hello from the volume\n" {
		t.Errorf("GET after the reboot: %q, %v", body, err)
	}
	if out := run(t, c, "docker images --format '{{.Repository}}:{{.Tag}}'"); !strings.Contains(out, "berth-test/busybox:1") {
		t.Errorf("images after the reboot:\n%s", out)
	}
}

// composeAndBuild builds an image FROM the loaded one with docker build
// (BuildKit, through the buildx plugin), then brings a compose project up
// and down: a one-shot service fills a named volume, the web service
// waits for it (depends_on) and serves it on a published port.
func composeAndBuild(t *testing.T, c *ssh.Client, port int) {
	t.Helper()
	for _, v := range []struct{ cmd, want string }{
		{"docker compose version", `^Docker Compose version v?2\.`},
		{"docker buildx version", `^github\.com/docker/buildx v?0\.`},
	} {
		if out := run(t, c, v.cmd); !regexp.MustCompile(v.want).MatchString(out) {
			t.Errorf("%s: %q, want /%s/", v.cmd, out, v.want)
		}
	}
	run(t, c, `mkdir -p ~/app && cd ~/app && printf 'FROM berth-test/busybox:1\nRUN echo built by buildkit > /built\nCMD ["cat", "/built"]\n' > Dockerfile`)
	if out := run(t, c, "cd ~/app && docker build -t berth-test/built:1 . 2>&1 | tail -3; docker run --rm berth-test/built:1"); !strings.HasSuffix(out, "built by buildkit\n") {
		t.Errorf("docker build and run:\n%s", out)
	}
	compose := `services:
  seed:
    image: berth-test/built:1
    command: sh -c 'cp /built /data/index.html'
    volumes: [data:/data]
  web:
    image: berth-test/busybox:1
    depends_on:
      seed: {condition: service_completed_successfully}
    command: httpd -f -p 80 -h /data
    ports: ["8081:80"]
    volumes: [data:/data]
volumes:
  data:
`
	run(t, c, "mkdir -p ~/demo && cat > ~/demo/compose.yaml <<'EOF'\n"+compose+"EOF")
	if out := run(t, c, "cd ~/demo && docker compose up -d 2>&1 && docker compose ps --all --format '{{.Service}} {{.State}}'"); !regexp.MustCompile(`(?m)^web running$`).MatchString(out) {
		t.Errorf("docker compose up:\n%s", out)
	}
	if body, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port), time.Minute); err != nil || body != "built by buildkit\n" {
		t.Errorf("GET the compose project's published port: %q, %v", body, err)
	}
	if out := run(t, c, "cd ~/demo && docker compose down --volumes 2>&1; docker ps -aq --filter label=com.docker.compose.project=demo | wc -l; docker volume ls -q --filter name=demo_data | wc -l"); !strings.HasSuffix(out, "0\n0\n") {
		t.Errorf("docker compose down left containers or the volume:\n%s", out)
	}
}

// pushPull pushes the loaded image to ref, removes it locally, pulls it
// back and runs it.
func pushPull(t *testing.T, c *ssh.Client, ref string) {
	t.Helper()
	out := run(t, c, fmt.Sprintf("docker tag berth-test/busybox:1 %[1]s && docker push -q %[1]s && docker rmi %[1]s >/dev/null && docker pull -q %[1]s && docker run --rm %[1]s echo pulled", ref))
	if !strings.HasSuffix(out, "pulled\n") {
		t.Errorf("push, pull and run %s:\n%s", ref, out)
	}
}
