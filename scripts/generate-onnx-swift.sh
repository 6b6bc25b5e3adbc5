#!/usr/bin/env bash
# Regenerates Sources/CNNCONNX/Generated/onnx.pb.swift from the onnx.proto that ships in the
# `onnx` pip package, with protoc (Debian: protobuf-compiler) and protoc-gen-swift built from
# the swift-protobuf version Package.swift names (a slow build, hence a committed result).
# Usage: scripts/generate-onnx-swift.sh   (pip install onnx first)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
proto_dir=$(python3 -c "import onnx, os; print(os.path.dirname(onnx.__file__))")
version=$(sed -n 's/.*swift-protobuf", exact: "\([0-9.]*\)".*/\1/p' Package.swift)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/Sources/Empty"
touch "$work/Sources/Empty/Empty.swift"
cat >"$work/Package.swift" <<SWIFT
// swift-tools-version:6.0
import PackageDescription
let package = Package(
  name: "ProtocGenSwift",
  dependencies: [.package(url: "https://github.com/apple/swift-protobuf", exact: "$version")],
  targets: [.target(name: "Empty", dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")])])
SWIFT
(cd "$work" && swift build -c release --product protoc-gen-swift)
protoc --plugin=protoc-gen-swift="$work/.build/release/protoc-gen-swift" \
  --swift_out="$root/Sources/CNNCONNX/Generated" --swift_opt=Visibility=Internal \
  -I "$proto_dir" "$proto_dir/onnx.proto"
echo "wrote Sources/CNNCONNX/Generated/onnx.pb.swift (onnx $(python3 -c 'import onnx; print(onnx.__version__)'), swift-protobuf $version)"
