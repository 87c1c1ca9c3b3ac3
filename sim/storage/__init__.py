"""Storage layer: output folders replaced only when ours, manifests read as untrusted input, and
writing and reading results. It makes no figures: the presentation layer hands it finished files."""
