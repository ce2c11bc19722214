"""_authoring"""
