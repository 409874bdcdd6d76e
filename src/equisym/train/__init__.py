"""equisym.train"""
