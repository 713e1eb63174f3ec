#!/usr/bin/env bash
# Runs a command and prints the CPU time the whole machine was busy meanwhile (user + nice + system + irq +
# softirq jiffies of /proc/stat: the client, sshd and the kernel together), the idle time and the wall time.
#   bash bench/cpu.sh rsync -a -e ssh SRC/ HOST:DEST/
set -euo pipefail
read -r _ u n s i _ q sq _ < /proc/stat
t0=$(date +%s.%N)
"$@" >/dev/null 2>&1
read -r _ u2 n2 s2 i2 _ q2 sq2 _ < /proc/stat
t1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
python3 -c "print('busy %.2f s, idle %.2f s, wall %.3f s' % ($(( (u2+n2+s2+q2+sq2)-(u+n+s+q+sq) ))/$hz, $(( i2-i ))/$hz, $t1-$t0))"
