"""equisym.nn"""
