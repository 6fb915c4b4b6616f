#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl stop canopy-agent.service canopyd.service || true
	if [ "$1" = remove ]; then
		systemctl disable canopy-agent.service canopyd.service || true
	fi
fi
