#!/usr/bin/env bash
# What the tests need from Debian beyond Python, installed only when missing: Chromium and its
# driver (the console's browser tests; never a browser downloaded at run time), zbar (reading
# the QR codes the pages draw) and poppler (reading the PDFs they print). Without root or
# apt-get it says what is missing; the browser tests then skip, unless CI is set: then they fail.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium chromium-driver)
command -v zbarimg >/dev/null || missing+=(zbar-tools)
command -v pdftotext >/dev/null || missing+=(poppler-utils)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "the browser tests need Debian's ${missing[*]} (apt-get install -y ${missing[*]})" >&2
  exit 0
fi
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
