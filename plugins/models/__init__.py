"""Model sources that stilts can turn into local Hugging Face transformers folders."""
