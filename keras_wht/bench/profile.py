"""Where a TFLite model's time goes: each operator timed on its own.

TFLite's Python interpreters have no op profiler, so the model is cut into one model per
operator: the operator, its constant inputs, and its other inputs as model inputs, fed the
values they take when the whole model runs (captured once with every tensor kept). Each
such model runs on the same runtime with the same delegate (XNNPACK takes the operators it
can, one at a time), and all are timed side by side (`timing.interleaved`). An operator
alone misses what a delegate gains by fusing it with its neighbours and what the caches
hold between them, so the sum can differ from the whole model's time, which is reported
beside it.
"""

import collections

import numpy as np

from keras_wht.bench import timing


def split(content, shapes=None):
    """[(operator name, output tensor name, one-operator model bytes, {input index: tensor
    index in `content`})] for each operator of `content`'s main subgraph, in order.
    `shapes` ({tensor index: shape}) overrides the shapes the flatbuffer records (which
    for dynamically shaped tensors are not those they take when the model runs)."""
    from keras_wht.tflite.conversion.rewrite import _packed, schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    graph = model.subgraphs[0]
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    pieces = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        number = max(code.builtinCode, code.deprecatedBuiltinCode)
        name = code.customCode.decode() if number == schema.BuiltinOperator.CUSTOM else builtin.get(number, str(number))
        used = [int(t) for t in list(op.inputs) + list(op.outputs) if int(t) >= 0]
        used = list(dict.fromkeys(used))
        local = {t: i for i, t in enumerate(used)}
        buffers = [schema.BufferT()]
        tensors, feeds = [], {}
        for t in used:
            tensor = graph.tensors[t]
            data = model.buffers[tensor.buffer].data if tensor.buffer else None
            copy = schema.TensorT()
            copy.shape, copy.type, copy.name = tensor.shape, tensor.type, tensor.name
            if shapes and t in shapes:
                copy.shape = [int(d) for d in shapes[t]]
            copy.quantization, copy.isVariable = tensor.quantization, tensor.isVariable
            if data is not None and len(data):
                buffers.append(model.buffers[tensor.buffer])
                copy.buffer = len(buffers) - 1
            else:
                copy.buffer = 0
                if t not in {int(o) for o in op.outputs}:
                    feeds[local[t]] = t
            tensors.append(copy)
        one = schema.OperatorT()
        one.opcodeIndex = 0
        one.inputs = [local[int(t)] if int(t) >= 0 else -1 for t in op.inputs]
        one.outputs = [local[int(t)] for t in op.outputs]
        one.builtinOptionsType, one.builtinOptions = op.builtinOptionsType, op.builtinOptions
        one.customOptions, one.customOptionsFormat = op.customOptions, op.customOptionsFormat
        sub = schema.SubGraphT()
        sub.tensors, sub.operators = tensors, [one]
        sub.inputs, sub.outputs = list(feeds), one.outputs
        piece = schema.ModelT()
        piece.version, piece.operatorCodes, piece.subgraphs, piece.buffers = 3, [code], [sub], buffers
        piece.description = b"one operator"
        output = graph.tensors[int(op.outputs[0])].name.decode()
        pieces.append((name, output, _packed(piece, 1024 + sum(len(b.data) for b in buffers if b.data is not None)),
                       feeds))
    return pieces


def _values(content, x, runtime):
    """{tensor index: value} of every tensor when `content` runs on `x`."""
    from keras_wht.tflite import Interpreter

    import warnings

    with warnings.catch_warnings():  # the runtime's note that keeping every tensor costs memory
        warnings.simplefilter("ignore")
        it = Interpreter(model_content=content, runtime=runtime, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    values = {}
    for detail in it.get_tensor_details():
        try:
            values[detail["index"]] = it.get_tensor(detail["index"])
        except ValueError:  # tensors without data (the delegate's)
            pass
    return values


def profile(content, x, *, threads=1, runtime=None, repeats=20):
    """{"total_ms": the whole model, "ops": [{"op", "tensor", "ms"}...]} for `content` on
    input `x`: each operator timed alone, side by side with the others."""
    from keras_wht.tflite import Interpreter

    values = _values(content, x, runtime)
    pieces = split(content, {t: v.shape for t, v in values.items()})
    runs = []
    for _, _, piece, feeds in pieces:
        it = Interpreter(model_content=piece, num_threads=threads, runtime=runtime)
        it.allocate_tensors()
        for detail in it.get_input_details():
            value = values[feeds[detail["index"]]]
            it.set_tensor(detail["index"], value.astype(detail["dtype"]).reshape(detail["shape"]))
        runs.append(it.invoke)
    whole = Interpreter(model_content=content, num_threads=threads, runtime=runtime)
    whole.allocate_tensors()
    whole.set_tensor(whole.get_input_details()[0]["index"], x)
    seconds = timing.interleaved([whole.invoke, *runs], repeats=repeats)
    return {"total_ms": seconds[0] * 1e3,
            "ops": [{"op": name, "tensor": tensor, "ms": s * 1e3}
                    for (name, tensor, _, _), s in zip(pieces, seconds[1:])]}


def by_operator(result):
    """[(operator, count, ms)] summed over a profile's operators, the costliest first."""
    totals = collections.defaultdict(lambda: [0, 0.0])
    for op in result["ops"]:
        totals[op["op"]][0] += 1
        totals[op["op"]][1] += op["ms"]
    return sorted(((k, n, ms) for k, (n, ms) in totals.items()), key=lambda r: -r[2])


def report(models=None, *, input_sizes=(32, 224), threads=1, runtime=None, repeats=20):
    """Markdown: for each builder (default: all four) and input size, the time of each
    operator type in the plain network and in its paper preset on the custom-op path, and
    the preset's costliest operators."""
    from keras_wht import tflite
    from keras_wht.bench.report import environment
    from keras_wht.models import registry

    env = environment(runtime)
    lines = [f"keras-wht op profile: {env['cpu']}, {env['tflite_runtime']} {env['tflite_runtime_version'] or ''}, "
             f"kernels {env['kernels']}, {threads} thread(s), custom-op path, each operator alone, warm caches, "
             f"median of {repeats}.", "",
             "Written by `python -m keras_wht.bench.profile docs/bench/bench-profile.md` (`make bench`). Each "
             "operator runs as a model of its own on the values it takes in the network (see "
             "keras_wht/bench/profile.py), so the sum of the operators differs from the whole model's time.", ""]
    for size in input_sizes:
        for name in models or registry.names():
            preset = registry.paper_preset(name)
            x = np.random.default_rng(0).uniform(0, 1, (1, size, size, 3)).astype(np.float32)
            results = {}
            for label, wht in (("plain", None), (preset, preset)):
                content = tflite.convert(registry.build(name, wht=wht, input_size=size), custom_ops=True)
                results[label] = profile(content, x, threads=threads, runtime=runtime, repeats=repeats)
            lines += [f"## {name} {size}x{size}", "",
                      "| operator | plain: count | plain: ms | " + preset + ": count | " + preset + ": ms |",
                      "|---|---:|---:|---:|---:|"]
            plain = {op: (n, ms) for op, n, ms in by_operator(results["plain"])}
            wht_ops = {op: (n, ms) for op, n, ms in by_operator(results[preset])}
            for op in sorted(set(plain) | set(wht_ops), key=lambda o: -max(plain.get(o, (0, 0))[1],
                                                                            wht_ops.get(o, (0, 0))[1])):
                a, b = plain.get(op, (0, 0.0)), wht_ops.get(op, (0, 0.0))
                lines.append(f"| {op} | {a[0]} | {a[1]:.3f} | {b[0]} | {b[1]:.3f} |")
            sums = {label: sum(o["ms"] for o in r["ops"]) for label, r in results.items()}
            lines.append(f"| **sum of operators** | | {sums['plain']:.3f} | | {sums[preset]:.3f} |")
            lines.append(f"| **whole model** | | {results['plain']['total_ms']:.3f} | | "
                         f"{results[preset]['total_ms']:.3f} |")
            lines += ["", f"{preset}'s costliest operators (ms, output tensor):", ""]
            lines += [f"- {o['ms']:.3f} {o['op']} `{o['tensor'].split(';')[0]}`"
                      for o in sorted(results[preset]["ops"], key=lambda o: -o["ms"])[:8]]
            lines.append("")
    return "\n".join(lines)


def main(argv=None):
    """python -m keras_wht.bench.profile [OUT.md]: the report for the four builders."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    text = report()
    print(text)
    if argv:
        from keras_wht import _files

        _files.write_file(argv[0], text + "\n")


if __name__ == "__main__":
    main()
