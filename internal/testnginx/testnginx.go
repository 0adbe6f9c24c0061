// Package testnginx runs Debian's nginx as a reverse proxy for tests: one
// process per test, configured in the test's temporary directory, listening
// on a free loopback port, that a test can kill and start again on the same
// port.
//
// nginx must be installed (Debian: apt-get install nginx; .ci/run installs
// it). On Linux a test that asks for it fails if it is missing; elsewhere it
// is skipped.
package testnginx

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"text/template"
	"time"
)

// Config says what the proxy forwards.
type Config struct {
	// Upstream is the HOST:PORT of the HTTP server behind the proxy.
	Upstream string

	// Location is the URL path prefix forwarded to Upstream, with the
	// request's path unchanged, for example "/farpipe/".
	Location string

	// CertFile and KeyFile, if set, make the proxy serve HTTPS with them
	// (and terminate TLS) instead of HTTP.
	CertFile, KeyFile string
}

// Nginx is an nginx process a test started.
type Nginx struct {
	// Addr is the 127.0.0.1:PORT the proxy listens on; it stays the same
	// across Restart.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has been waited for
}

// readyTimeout bounds how long a new nginx may take to listen.
const readyTimeout = 10 * time.Second

// conf is the whole configuration: one process (so killing it kills the
// proxy), every file in the test's directory, and the settings a WebSocket
// needs behind nginx: HTTP/1.1 to the upstream, the Upgrade and Connection
// headers passed on, and a read timeout longer than any idle moment.
var conf = template.Must(template.New("nginx.conf").Parse(`daemon off;
master_process off;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log info;
events { worker_connections 256; }
http {
    access_log {{.Dir}}/access.log;
    client_body_temp_path {{.Dir}}/client_body;
    proxy_temp_path {{.Dir}}/proxy;
    fastcgi_temp_path {{.Dir}}/fastcgi;
    uwsgi_temp_path {{.Dir}}/uwsgi;
    scgi_temp_path {{.Dir}}/scgi;

    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }

    server {
        listen {{.Addr}}{{if .CertFile}} ssl{{end}};
{{- if .CertFile}}
        ssl_certificate {{.CertFile}};
        ssl_certificate_key {{.KeyFile}};
{{- end}}

        location {{.Location}} {
            proxy_pass http://{{.Upstream}};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`))

// Binary returns the path of nginx, skipping the test where nginx is not
// tested (not Linux) and failing it where nginx is missing.
func Binary(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("skipping: the nginx proxy test runs on Linux")
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	const debian = "/usr/sbin/nginx"
	if _, err := os.Stat(debian); err == nil {
		return debian
	}
	t.Fatal("nginx is not installed: install Debian's package (apt-get install nginx), as .ci/run does; this test needs it")
	return ""
}

// Start writes a configuration for cfg in a temporary directory and starts
// nginx with it on a free loopback port. The process is killed at the end of
// the test.
func Start(t testing.TB, cfg Config) *Nginx {
	t.Helper()
	n := &Nginx{t: t, bin: Binary(t), dir: t.TempDir()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnginx: finding a free port: %v", err)
	}
	n.Addr = l.Addr().String()
	l.Close()
	var b bytes.Buffer
	err = conf.Execute(&b, struct {
		Config
		Dir, Addr string
	}{cfg, n.dir, n.Addr})
	if err != nil {
		t.Fatalf("testnginx: %v", err)
	}
	if err := os.WriteFile(n.conf(), b.Bytes(), 0o600); err != nil {
		t.Fatalf("testnginx: %v", err)
	}
	t.Cleanup(n.Kill)
	n.start()
	return n
}

func (n *Nginx) conf() string { return filepath.Join(n.dir, "nginx.conf") }

// start runs nginx and waits until it accepts connections.
func (n *Nginx) start() {
	n.t.Helper()
	n.cmd = exec.Command(n.bin, "-p", n.dir, "-c", n.conf(), "-e", filepath.Join(n.dir, "error.log"))
	dieWithParent(n.cmd)
	if err := n.cmd.Start(); err != nil {
		n.t.Fatalf("testnginx: starting %s: %v", n.bin, err)
	}
	done := make(chan struct{})
	n.done = done
	cmd := n.cmd
	go func() {
		cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			n.t.Fatalf("testnginx: nginx exited at start (%v); its error log:\n%s", cmd.ProcessState, n.ErrorLog())
		default:
		}
		c, err := net.DialTimeout("tcp", n.Addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			n.Kill()
			n.t.Fatalf("testnginx: nginx does not accept connections on %s after %v: %v; its error log:\n%s", n.Addr, readyTimeout, err, n.ErrorLog())
		}
		time.Sleep(10 * time.Millisecond) // polling the port: nginx tells nothing else when it is ready
	}
}

// Kill kills nginx with SIGKILL, which drops every connection through it at
// once, and waits for it to exit. It does nothing if nginx does not run.
func (n *Nginx) Kill() {
	if n.cmd == nil {
		return
	}
	n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// Restart kills nginx and starts a new one on the same port.
func (n *Nginx) Restart() {
	n.t.Helper()
	n.Kill()
	n.start()
}

// ErrorLog returns nginx's error log, for failure messages.
func (n *Nginx) ErrorLog() string {
	b, err := os.ReadFile(filepath.Join(n.dir, "error.log"))
	if err != nil {
		return fmt.Sprintf("(no error log: %v)", err)
	}
	return string(b)
}
