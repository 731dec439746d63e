"""A stand-in for huggingface_hub, so the hub path runs with no network: hf_hub_download serves
files from local directories, one per repository name, and records what was asked.
Not a conftest: the test files that need it import it."""
import shutil
import sys
import types


def install_fake_hub(monkeypatch, repos, cache):
    """Make `import huggingface_hub` give a module whose hf_hub_download(repo_id, filename)
    copies repos[repo_id]/filename into cache/repo_id/ (as the real one fills its cache) and
    returns that path; an unknown repository or file raises FileNotFoundError, as the real one
    raises an OSError offline. Returns the list of (repo_id, filename) asked for."""
    asked = []

    def hf_hub_download(repo_id, filename, **kwargs):
        asked.append((repo_id, filename))
        source = repos[repo_id] / filename if repo_id in repos else None
        if source is None or not source.is_file():
            raise FileNotFoundError(f"fake hub: no {filename} in {repo_id}")
        target = cache / repo_id.replace("/", "--") / filename
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return str(target)

    def try_to_load_from_cache(repo_id, filename, **kwargs):
        """The cached path, or None: what an earlier hf_hub_download left in the cache."""
        target = cache / repo_id.replace("/", "--") / filename
        return str(target) if target.is_file() else None

    module = types.ModuleType("huggingface_hub")
    module.hf_hub_download = hf_hub_download
    module.try_to_load_from_cache = try_to_load_from_cache
    monkeypatch.setitem(sys.modules, "huggingface_hub", module)
    return asked
