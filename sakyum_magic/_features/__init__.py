"""_features"""
