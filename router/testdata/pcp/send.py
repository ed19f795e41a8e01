#!/usr/bin/env python3
# Sends PCP/NAT-PMP requests to a server and prints each request and its
# response as hex: how router/testdata/pcp/*.hex were recorded. Run it in a
# lab host's namespace: ip netns exec HOST python3 send.py SERVER HEX...
import socket, sys

server = sys.argv[1]
fam = socket.AF_INET6 if ":" in server else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.connect((server, 5351))
for req in sys.argv[2:]:
    s.send(bytes.fromhex(req))
    print("request", req)
    s.settimeout(2)
    try:
        print("response", s.recv(1100).hex())
    except socket.timeout:
        print("response none")
