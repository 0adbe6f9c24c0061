// Command bench measures farpipe's throughput on loopback, in one run,
// against the ceiling any pipeline tool can reach (gocopy, a minimal Go
// stdin→TCP→stdout copier in bench/cmd/gocopy, plain, with TLS, and with
// --verify the checks farpipe --no-encrypt makes and nothing else) and
// against its peers (mbuffer, socat, nc and ssh with aes128-gcm through a
// private sshd), and reports ratios, farpipe's memory and CPU cost, the
// performance goals as PASS or FAIL, and a chart.
//
//	go run ./bench                     # the defaults: 2 GiB per transfer, 3 runs of each tool
//	go run ./bench --install           # first apt-get install the missing peers
//	go run ./bench --size 4GiB --runs 5 --peers gocopy,farpipe-plain,socat
//	go run ./bench -part map           # farpipe map against GNU parallel, xargs and pipelines
//	go run ./bench -part relay         # farpipe through a relay against a nats.go copier and croc
//	go run ./bench -part streams       # pub/sub and map --via on a relay's JetStream against a nats.go JetStream copier and local map
//
// Transfers of different tools are interleaved (A B C … A B C …) so that
// a change in the machine's speed touches every tool alike. It runs on
// Linux only. docs/performance.md explains every figure.
package main
