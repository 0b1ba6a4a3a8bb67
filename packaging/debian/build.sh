#!/usr/bin/env bash
# Builds the Debian package from the workspace with cargo-deb: the binary, the
# systemd unit, the production configuration (`config default --production`) and
# an empty policy in /etc/lienthong, shell completions and the man page generated
# from the command line. Writes target/debian/lienthong_<version>-1_<arch>.deb.
#
#   packaging/debian/build.sh                  # a release build
#   packaging/debian/build.sh --profile dev    # from the test build's binary (CI)
#
# cargo-deb: `cargo install cargo-deb`, or CARGO_DEB=/path/to/cargo-deb.
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=release
if [ "${1:-}" = "--profile" ]; then
    profile=$2
fi
case "$profile" in
    dev) dir=debug ;;
    *) dir=$profile ;;
esac
if [ "$profile" != dev ] || [ ! -x "target/$dir/lienthong" ]; then
    cargo build --locked --profile "$profile" -p lienthong
fi
bin="target/$dir/lienthong"
assets="target/$dir/debian-assets"
rm -rf "$assets"
mkdir -p "$assets"
"$bin" config default --production > "$assets/lienthong.toml"
"$bin" completions bash > "$assets/lienthong.bash"
"$bin" completions zsh > "$assets/_lienthong"
"$bin" completions fish > "$assets/lienthong.fish"
"$bin" manpage | gzip -9n > "$assets/lienthong.1.gz"
"${CARGO_DEB:-cargo-deb}" -p lienthong --no-build --profile "$profile" --output target/debian/
