"""Times ONNX Runtime on its own int8 quantization of a cnnc float checkpoint.

  python3 Benchmarks/scripts/onnxruntime_int8_lenet.py FLOAT.onnx [--threads 1] [--repeats 7]

FLOAT.onnx is `cnnc export`'s model of the checkpoint. onnxruntime.quantization.quantize_static
quantizes it (QDQ format, int8 weights per output channel, int8 activations, calibrated on the
first 500 MNIST training images, as cnnc quantize calibrates), and the quantized model is timed
at batch 64 with the CPU provider: the median of repeated runs. Prints the images/s and the
test accuracy of both models on the whole test set.
Needs: pip install onnx onnxruntime numpy
"""
import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_static)

from pytorch_lenet import load_split


class Calibration(CalibrationDataReader):
    def __init__(self, name, images):
        self.batches = iter([{name: images[i:i + 50]} for i in range(0, len(images), 50)])

    def get_next(self):
        return next(self.batches, None)


def session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def accuracy(model, name, images, labels):
    scores = np.concatenate([model.run(None, {name: images[i:i + 1000]})[0]
                             for i in range(0, len(images), 1000)])
    return 100 * (scores.argmax(1) == labels).mean()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--activations", choices=["int8", "uint8"], default="int8",
                        help="activation type (ONNX Runtime's default int8, or uint8: U8S8)")
    args = parser.parse_args()

    name = session(args.model, 1).get_inputs()[0].name
    train, _ = load_split("train")
    test, labels = load_split("t10k")
    train, test, labels = train.numpy(), test.numpy(), labels.numpy()
    quantized = os.path.join(tempfile.mkdtemp(), "int8.onnx")
    quantize_static(args.model, quantized, Calibration(name, train[:500]),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8 if args.activations == "int8" else QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    model = session(quantized, args.threads)
    batch = test[:64]
    for _ in range(20):
        model.run(None, {name: batch})
    samples = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(100):
            model.run(None, {name: batch})
        samples.append((time.perf_counter() - start) / 100)
    print(f"onnxruntime {ort.__version__} int8 (quantize_static, QDQ, {args.activations} activations), {args.threads} thread(s): "
          f"batch 64 {64 / statistics.median(samples):.0f} images/s; test accuracy "
          f"float {accuracy(session(args.model, args.threads), name, test, labels):.2f}%, "
          f"int8 {accuracy(model, name, test, labels):.2f}%")


if __name__ == "__main__":
    main()
