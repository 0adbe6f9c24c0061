//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
)

// sshdPath is where Debian's openssh-server installs sshd; sshd insists on
// being started by its absolute path.
const sshdPath = "/usr/sbin/sshd"

// sshServer is a private sshd on 127.0.0.1 with its own host key, which
// accepts one client key for the current user.
type sshServer struct {
	port int
	user string
	key  string // the client's private key
	proc *child
}

// startSSHD starts the private sshd for the ssh peer and logs in once.
func (h *harness) startSSHD(ctx context.Context) error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	dir := filepath.Join(h.tmp, "ssh")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	hostKey, clientKey := filepath.Join(dir, "host_ed25519"), filepath.Join(dir, "client_ed25519")
	for _, k := range []string{hostKey, clientKey} {
		if out, err := exec.CommandContext(ctx, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "farpipe-bench", "-f", k).CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(clientKey + ".pub")
	if err != nil {
		return err
	}
	authorized := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(authorized, pub, 0o600); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cfg, []byte(sshdConfig(hostKey, authorized)), 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// sshd refuses to start as root without its privilege separation
		// directory, which a container may lack.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			return err
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	proc, err := startChild("sshd", exec.CommandContext(ctx, sshdPath, "-D", "-e", "-f", cfg, "-p", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	h.sshd = &sshServer{port: port, user: u.Username, key: clientKey, proc: proc}
	if err := waitListening(ctx, port, proc); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "ssh", h.sshd.command("true")[1:]...).CombinedOutput(); err != nil {
		return fmt.Errorf("logging in to the private sshd: %v: %s%s", err, out, proc.stderr.suffix())
	}
	return nil
}

// sshdConfig is a minimal configuration: public keys from one file, the
// cipher under test, nothing else.
func sshdConfig(hostKey, authorized string) string {
	return fmt.Sprintf(`ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
Ciphers aes128-gcm@openssh.com
PrintMotd no
LogLevel ERROR
`, hostKey, authorized)
}

// command is the ssh command line that runs remote on the private sshd.
func (s *sshServer) command(remote string) []string {
	return []string{"ssh", "-F", "/dev/null", "-T", "-x", "-i", s.key,
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "Compression=no",
		"-c", "aes128-gcm@openssh.com", "-p", strconv.Itoa(s.port), s.user + "@127.0.0.1", remote}
}

// stop stops sshd.
func (s *sshServer) stop() {
	if s != nil && s.proc != nil {
		s.proc.stop()
	}
}
