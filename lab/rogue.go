//go:build linux

package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// RogueSSDP is a LAN host pretending to be an IGD: for args[0] seconds it
// answers every M-SEARCH with a LOCATION at itself (args[1]:8080) and
// counts the HTTP requests its description server gets. It prints
// "msearch=N http=M": a client pinned to the gateway leaves http at 0.
func RogueSSDP(ctx context.Context, args []string) error {
	secs, _ := strconv.Atoi(args[0])
	self := args[1]
	var httpHits, searches atomic.Int64
	ln, err := net.Listen("tcp4", self+":8080")
	if err != nil {
		return err
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpHits.Add(1)
		w.Write([]byte("<root/>"))
	}))
	group := &net.UDPAddr{IP: net.IPv4(239, 255, 255, 250), Port: 1900}
	ifi, _ := net.InterfaceByName("eth0")
	conn, err := net.ListenMulticastUDP("udp4", ifi, group)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Duration(secs) * time.Second))
	buf := make([]byte, 2048)
	for {
		n, from, err := conn.ReadFromUDP(buf)
		if err != nil {
			break
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "M-SEARCH") {
			continue
		}
		searches.Add(1)
		st := regexp.MustCompile(`(?i)\r\nST: *([^\r]*)`).FindStringSubmatch(msg)
		if st == nil {
			continue
		}
		reply := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: " + st[1] + "\r\nUSN: uuid:rogue::" + st[1] +
			"\r\nEXT:\r\nLOCATION: http://" + self + ":8080/rootDesc.xml\r\nBOOTID.UPNP.ORG: 1\r\n\r\n"
		out, err := net.DialUDP("udp4", nil, from)
		if err == nil {
			out.Write([]byte(reply))
			out.Close()
		}
	}
	fmt.Printf("msearch=%d http=%d\n", searches.Load(), httpHits.Load())
	return nil
}
