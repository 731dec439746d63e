"""Files from the Hugging Face hub, through `huggingface_hub` (an optional dependency).

A name that is not a local directory ("gpt2", "openai-community/gpt2-medium") is a hub
repository. huggingface_hub downloads each file once into its cache (~/.cache/huggingface),
checks it against the hub's hash, and gives the cached path. Files already in that cache are
read from it without asking the network: asking first would cost a learner offline about 25 s
of retries per file before huggingface_hub fell back to the same copy (or, with nothing cached,
raised an OSError). Nothing here downloads by hand.
"""
from pathlib import Path


def locate(path_or_name, filenames, caller):
    """A directory as given, else the directory where the hub repository path_or_name's
    `filenames` were fetched. A path that cannot be a hub name (absolute, "./x", an existing
    file) and is no directory is an error naming it; caller names the function asking."""
    path = Path(path_or_name)
    if path.is_dir():
        return path
    if path.is_absolute() or str(path_or_name).startswith(".") or path.exists():
        raise FileNotFoundError(f"{caller}: no such directory: {path}")
    try:
        import huggingface_hub
    except ImportError:
        raise ImportError(f"{caller}({path_or_name!r}): {path_or_name!r} is not a directory, and "
                          "loading from the Hugging Face hub needs `pip install huggingface_hub`") from None
    name = str(path_or_name)
    cached = cached_directory(name, filenames)
    if cached is not None:
        return cached
    paths = [Path(huggingface_hub.hf_hub_download(repo_id=name, filename=f)) for f in filenames]
    return paths[0].parent


def cached_directory(name, filenames):
    """The directory in huggingface_hub's cache that holds all of the hub repository name's
    `filenames` (one snapshot), or None; found without asking the network. Needs huggingface_hub."""
    import huggingface_hub
    cached = [huggingface_hub.try_to_load_from_cache(name, filename) for filename in filenames]
    if all(isinstance(path, str) for path in cached) and len({Path(p).parent for p in cached}) == 1:
        return Path(cached[0]).parent
    return None
