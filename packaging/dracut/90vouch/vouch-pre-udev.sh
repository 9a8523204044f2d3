#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# dracut without systemd: the stage before udev (this file is sourced).
/usr/lib/vouch/initramfs-stage
