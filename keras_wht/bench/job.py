"""A `keras-wht bench` run: every check before any work (`prepare`), the measurement with a
progress bar (`Job.run`), and the report on the terminal and in the files asked for
(`Job.write`)."""

import contextlib
import json

from keras_wht import _files
from keras_wht.bench import paths as paths_


def prepare(what, *, paths=None, threads=(1,), schedule="warm", repeats, memory=True, runtime=None, out=None,
            json_file=None, markdown_file=None, size="full", batch=1, models=None, wht="paper",
            input_sizes=None):
    """A `Job` measuring `what` ("layers": `size` and `batch`; "models": `models`, `wht` and
    `input_sizes`), checked and ready: raises ValueError (an unknown path, runtime, model,
    preset or size, an output that cannot be written) or ImportError (a runtime, the
    kernels or matplotlib missing) before anything is measured or written. `json_file` and
    `markdown_file` may be '-', standard output; `out` is a folder for all the files."""
    chosen = paths_.check(paths) if paths is not None else paths_.default_paths()
    from keras_wht.tflite.runtime import runtimes

    runtimes.interpreter_class(runtime)  # an unknown or missing runtime fails here, not mid-run
    if out:
        from keras_wht.bench import report

        report.require_plots()
        _files.check_output(out, "--out", folder=True)
    for name, path in (("--json", json_file), ("--markdown", markdown_file)):
        if path and path != "-":
            _files.check_output(path, name, folder=False)
    if json_file == "-" and markdown_file == "-":
        raise ValueError("`--json` and `--markdown` cannot both be '-' (standard output)")
    planned = None
    if what == "models":
        from keras_wht.bench import models as bench_models

        input_sizes = tuple(input_sizes or bench_models.INPUT_SIZES)
        planned = bench_models.plan(models, wht, input_sizes)  # unknown models, presets and sizes fail here
    return Job(what=what, paths=chosen, threads=tuple(threads), schedule=schedule, repeats=repeats,
               memory=memory, runtime=runtime, out=out, json_file=json_file, markdown_file=markdown_file,
               size=size, batch=batch, models=models, wht=wht, input_sizes=input_sizes, planned=planned)


class Job:
    """A benchmark that `prepare` checked but has not started: `run()` measures."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    def run(self):
        """Measures, with a progress bar on standard error; returns the report document."""
        keras_threads = paths_.set_keras_threads(max(self.threads))  # before TensorFlow runs anything
        from keras_wht.bench import layers, report
        from keras_wht.bench import models as bench_models

        settings = {"paths": list(self.paths), "threads": list(self.threads), "keras_threads": keras_threads,
                    "schedule": self.schedule, "repeats": self.repeats, "memory": self.memory,
                    "runtime": self.runtime}
        options = dict(paths=self.paths, threads=self.threads, schedule=self.schedule, repeats=self.repeats,
                       memory=self.memory, runtime=self.runtime)
        if self.what == "layers":
            settings.update(size=self.size, batch=self.batch)
            steps = len(layers.cases(self.size, self.batch)) * len(self.paths)
            work = lambda step: layers.run(self.size, batch=self.batch, step=step, **options)  # noqa: E731
        else:
            settings.update(models=list(self.planned), wht=self.wht, input_sizes=list(self.input_sizes))
            steps = len(self.planned) * len(self.input_sizes) * len(self.paths)
            work = lambda step: bench_models.run(  # noqa: E731
                self.models, wht=self.wht, input_sizes=self.input_sizes, step=step, **options)
        with progress(report.console(stderr=True), steps, "bench") as step:
            rows = work(step)
        return report.document(self.what, rows, settings, runtime=self.runtime)

    def write(self, doc):
        """The table on the terminal (unless a report goes to standard output), and the files."""
        from keras_wht.bench import report

        to_stdout = "-" in (self.json_file, self.markdown_file)
        if not to_stdout:
            report.console().print(report.table(doc))
        if self.out:
            written = report.write(doc, self.out)
            if not to_stdout:
                print("wrote " + ", ".join(written.values()))
        if self.json_file:
            text = json.dumps(doc, indent=2)
            if self.json_file == "-":
                print(text)
            else:
                _files.write_file(self.json_file, text)
        if self.markdown_file:
            if self.markdown_file == "-":
                print(report.markdown(doc), end="")
            else:
                _files.write_file(self.markdown_file, report.markdown(doc))


@contextlib.contextmanager
def progress(console, total, description):
    """Yields `step(description)` for `compare.compare`: a transient progress bar of `total`
    steps on `console`, each counted done as the next one starts."""
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)

        def step(text):
            bar.update(task, description=text, completed=step.done)
            step.done += 1

        step.done = 0
        yield step
