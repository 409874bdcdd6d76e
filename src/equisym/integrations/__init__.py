"""equisym.integrations"""
