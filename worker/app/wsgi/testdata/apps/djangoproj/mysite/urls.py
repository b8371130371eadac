from django.urls import path

from . import views

urlpatterns = [
    path("", views.index, name="index"),
    path("upload", views.upload, name="upload"),
    path("where", views.where, name="where"),
    path("stream", views.stream, name="stream"),
]
