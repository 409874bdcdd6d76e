"""equisym.physics"""
