package relay

import (
	"net"
	"os"
	"strconv"
	"strings"
)

// ReachableURLs returns the URLs at which clients on other hosts can
// probably reach the relay, best first: its listen address when it listens
// on one; when it listens on every interface, the host's name if it is a
// fully qualified one, then the host's global and private addresses (IPv4
// first), then a short host name; ClientURL when nothing else is known.
func (s *Server) ReachableURLs() []string {
	host := s.listenHost(s.cfg.Listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return []string{s.ClientURL()}
	}
	hostname, _ := os.Hostname()
	v4only := host != "" && net.ParseIP(host).To4() != nil
	return reachableURLs(s.ClientURL(), hostname, interfaceAddrs(v4only))
}

// reachableURLs is ReachableURLs of a relay listening on every interface,
// with local its ClientURL, the host's name and addresses.
func reachableURLs(local, hostname string, addrs []string) []string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(local, "nats://"))
	var urls []string
	add := func(h string) { urls = append(urls, "nats://"+net.JoinHostPort(h, port)) }
	if strings.Contains(hostname, ".") {
		add(hostname)
	}
	for _, a := range addrs {
		add(a)
	}
	if hostname != "" && !strings.Contains(hostname, ".") {
		add(hostname)
	}
	if len(urls) == 0 {
		return []string{local}
	}
	return urls
}

// interfaceAddrs returns the global unicast addresses (private ones
// included) of the host's interfaces that are up, IPv4 first.
func interfaceAddrs(v4only bool) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v4, v6 []string
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || !n.IP.IsGlobalUnicast() {
				continue
			}
			if n.IP.To4() != nil {
				v4 = append(v4, n.IP.String())
			} else if !v4only {
				v6 = append(v6, n.IP.String())
			}
		}
	}
	return append(v4, v6...)
}

// ReadyLine is the line a relay prints when it is ready: the URL to give
// clients (--relay), and the others it may be reached at.
func (s *Server) ReadyLine() string {
	urls := s.ReachableURLs()
	line := "farpipe: relay ready: use " + urls[0] + " (--relay " + urls[0] + ")"
	if len(urls) > 1 {
		more := urls[1:]
		if len(more) > 4 {
			more = append(more[:4:4], "and "+strconv.Itoa(len(urls)-5)+" more")
		}
		line += "; also reachable as " + strings.Join(more, ", ")
	}
	if ws := s.WebSocketURL(); ws != "" {
		line += "; WebSocket on port " + ws[strings.LastIndex(ws, ":")+1:]
	}
	if s.cfg.Cluster != "" {
		cu := s.ClusterURL()
		line += "; cluster routes on port " + cu[strings.LastIndex(cu, ":")+1:]
	}
	if u := s.HTTPLoginURL(); u != "" {
		line += "; page at " + u
	}
	return line
}
