"""motiongpt.llm"""
