"""_guards"""
