"""motiongpt.tokenizer"""
