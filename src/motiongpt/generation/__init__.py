"""motiongpt.generation"""
