from django.urls import path

from . import views

app_name = "imports"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:job_id>/", views.job_detail, name="job"),
    path("<int:job_id>/confirm/", views.job_confirm, name="confirm"),
    path("<int:job_id>/cancel/", views.job_cancel, name="cancel"),
    path("<int:job_id>/retry/", views.job_retry, name="retry"),
    path("<int:job_id>/errors/", views.job_errors, name="errors"),
    path("templates/<str:kind>.<str:file_type>", views.template_download, name="template"),
    path("export/<str:kind>.<str:file_type>", views.export_download, name="export"),
]
