"""equisym.data"""
