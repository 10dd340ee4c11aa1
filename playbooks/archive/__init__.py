"""What an audit needs to reconstruct an incident later: a bounded row sample of each data
window the evidence was computed on, and every spec version that ran, by hash."""

from playbooks.archive.samples import Samples, keep_samples, load_samples, sample_dir
from playbooks.archive.specs import archive_spec, archived_spec, archived_versions, spec_diff

__all__ = ["Samples", "archive_spec", "archived_spec", "archived_versions", "keep_samples",
           "load_samples", "sample_dir", "spec_diff"]
