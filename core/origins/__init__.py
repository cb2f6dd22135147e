"""Where a model comes from on the web: Civitai and Hugging Face origins, trigger words, newer versions."""
