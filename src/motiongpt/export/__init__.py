"""motiongpt.export"""
