"""motiongpt.app"""
