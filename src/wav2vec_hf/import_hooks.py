"""Run a function right after a module finishes importing, without importing it: ``call_after_import``.

``import wav2vec_hf`` must register our model types with transformers' Auto classes, but importing
transformers (and, for the model classes, torch) costs seconds that ``wav2vec-hf --help`` should not
pay. So the package asks for the registration to run *when transformers is imported*, by whoever:

* transformers already imported: the function runs at once;
* otherwise a ``sys.meta_path`` finder waits for ``import transformers``, wraps the loader it finds
  (the real one, from the finders after it) and runs the function right after transformers' module
  code has finished, never on a partially initialised module; the loader is then put back and the
  finder removes itself.

The function may need modules that are themselves being imported when transformers arrives (our
``models.wav2vec`` imports transformers at its top): those are named in ``not_during``, and the
function waits until the last of them has finished importing. It runs once (a failure is a warning,
not a broken ``import transformers``; calling it again directly raises the error), and no other
module's import is changed.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable, Iterable


def _initialising(name: str) -> bool:
    """True while ``name``'s module code runs (importlib marks its spec until the import ends)."""
    module = sys.modules.get(name)
    return module is not None and bool(getattr(getattr(module, "__spec__", None), "_initializing", False))


class _CallingLoader:
    """The real loader of a watched module, plus a call to ``after`` once its module code has run."""

    def __init__(self, loader, spec, after: Callable[[str], None]) -> None:
        self._loader, self._spec, self._after = loader, spec, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        try:
            self._loader.exec_module(module)
        finally:  # the module (and its spec) get their real loader back, whatever happened
            self._spec.loader = self._loader
            for candidate in (module, sys.modules.get(self._spec.name)):
                if getattr(candidate, "__loader__", None) is self:
                    candidate.__loader__ = self._loader
        self._after(self._spec.name)

    def __getattr__(self, name: str):  # get_resource_reader, is_package, get_source, ...
        if name == "_loader":  # a copy made without __init__: no recursion
            raise AttributeError(name)
        return getattr(self._loader, name)


class _AfterImport:
    """A ``sys.meta_path`` finder that watches ``target`` and the ``not_during`` modules and calls
    ``function`` once when ready (it only wraps loaders; the specs come from the finders after it)."""

    def __init__(self, target: str, function: Callable[[], None], not_during: tuple[str, ...]) -> None:
        self.target, self.function, self.not_during = target, function, not_during
        self._lock = threading.Lock()
        self._searching = threading.local()  # a finder after us may ask sys.meta_path again: no recursion
        self._target_loaded = target in sys.modules
        self._state = "waiting"  # -> "running" -> "done" (back to "waiting" after a failure)

    def find_spec(self, fullname, path=None, target=None):
        if (fullname != self.target and fullname not in self.not_during) or getattr(
            self._searching, "active", False
        ):
            return None
        self._searching.active = True
        try:
            spec = None
            for finder in list(sys.meta_path):  # the spec the import would get without us
                if finder is not self and hasattr(finder, "find_spec"):
                    spec = finder.find_spec(fullname, path, target)
                    if spec is not None:
                        break
        finally:
            self._searching.active = False
        if spec is None:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # a namespace package or an old-style loader: leave it alone
        spec.loader = _CallingLoader(spec.loader, spec, self._imported)
        return spec

    def _imported(self, name: str) -> None:
        if name == self.target:
            self._target_loaded = True
        self.call_if_ready(finishing=name)

    def call_if_ready(self, finishing: str | None = None) -> None:
        """Call the function if the target is imported and no ``not_during`` module is mid-import."""
        with self._lock:
            busy = [name for name in self.not_during if name != finishing and _initialising(name)]
            if self._state != "waiting" or not self._target_loaded or busy:
                return
            self._state = "running"
        # Not under the lock: the function imports modules, whose import locks another thread may hold.
        try:
            self.function()
        except Exception as error:
            with self._lock:
                self._state = "waiting"
            warnings.warn(
                f"{getattr(self.function, '__qualname__', self.function)} after importing {self.target} "
                f"failed: {type(error).__name__}: {error}",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        with self._lock:
            self._state = "done"
            if self in sys.meta_path:
                sys.meta_path.remove(self)


def call_after_import(target: str, function: Callable[[], None], not_during: Iterable[str] = ()) -> None:
    """Call ``function()`` once ``target`` is imported: now if it already is, else right after its import.

    Args:
        target: the top-level module to wait for, e.g. ``"transformers"``.
        function: takes no argument; should be idempotent (it runs once here, but others may call it).
        not_during: modules the function imports that may themselves import ``target``: while one of
            them is mid-import the call waits for it to finish (it must be imported after this call).
    """
    hook = _AfterImport(target, function, tuple(not_during))
    if not hook._target_loaded:
        sys.meta_path.insert(0, hook)
        if target not in sys.modules:
            return  # the finder sees the import
        hook._target_loaded = True  # imported by another thread meanwhile (its import waits for us)
    hook.call_if_ready()


__all__ = ["call_after_import"]
